//! The summary table: one line per scenario and round, then the violations.

use crate::scenarios::Outcome;
use std::fmt::Write;

/// Renders the table and the violations below it.
pub fn table(rows: &[(u32, Outcome)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<5} {:<27} {:>5} {:>9} {:>6} {:>9} {:>4} {:>4} {:>4} {:>10}  verdict",
        "round",
        "scenario",
        "runs",
        "completed",
        "failed",
        "cancelled",
        "lost",
        "dup",
        "503",
        "recovery_s"
    );
    for (round, o) in rows {
        let t = &o.tally;
        let recovery = o
            .recovery_s
            .map(|s| format!("{s:.1}"))
            .unwrap_or_else(|| "-".into());
        let verdict = if t.violations.is_empty() {
            "ok"
        } else {
            "FAIL"
        };
        let _ = writeln!(
            out,
            "{round:<5} {:<27} {:>5} {:>9} {:>6} {:>9} {:>4} {:>4} {:>4} {recovery:>10}  {verdict}",
            o.name, t.runs, t.completed, t.failed, t.cancelled, t.lost, t.duplicates, t.unavailable
        );
    }
    for (round, o) in rows {
        let _ = writeln!(out, "round {round} {}: {}", o.name, o.note);
        for v in &o.tally.violations {
            let _ = writeln!(out, "  VIOLATION: {v}");
        }
    }
    out
}

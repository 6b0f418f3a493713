//! Human output: aligned tables for lists, `key: value` blocks for one
//! resource, timestamps in local time, and writing to stdout. Data goes to
//! stdout; hints and notes go to stderr so that stdout stays parseable.

use crate::model::{Project, Run, Worker};
use crate::style::Style;
use chrono::{DateTime, Local, Utc};
use serde_json::Value;
use std::io::Write;

/// Longest goal shown in a table cell.
const GOAL_CHARS: usize = 60;

/// Writes `text` and a newline to stdout. A closed pipe (`| head`) is not
/// the command's failure, so write errors are ignored.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _closed = writeln!(out, "{text}");
}

/// Writes `text` to stdout as it is, with no newline added (a command's
/// output, passed through).
pub fn emit_raw(text: &str) {
    let mut out = std::io::stdout().lock();
    let _closed = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes `text` to stderr as it is, with no newline added.
pub fn emit_raw_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _closed = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Writes one JSON document to stdout.
pub fn emit_json(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    emit(&text);
}

/// Columns padded to their widest cell; `paint(column, cell, padded)` styles
/// a cell after padding so escape codes do not upset the widths.
pub fn table(
    headers: &[&str],
    rows: &[Vec<String>],
    style: Style,
    paint: impl Fn(usize, &str, &str) -> String,
) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let last = headers.len().saturating_sub(1);
    let pad = |text: &str, column: usize| {
        if column == last {
            text.to_owned()
        } else {
            let fill = widths[column].saturating_sub(text.chars().count());
            format!("{text}{}", " ".repeat(fill))
        }
    };
    let header: Vec<String> = headers.iter().enumerate().map(|(i, h)| pad(h, i)).collect();
    let mut lines = vec![style.bold(header.join("  ").trim_end())];
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| paint(i, cell, &pad(cell, i)))
            .collect();
        lines.push(cells.join("  ").trim_end().to_owned());
    }
    lines.join("\n")
}

/// `key: value` lines with the values aligned; multi-line values are indented.
pub fn key_values(pairs: &[(&str, String)], style: Style) -> String {
    let width = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let indent = " ".repeat(width + 1);
    pairs
        .iter()
        .map(|(key, value)| {
            let label = style.bold(&format!("{:<width$}", format!("{key}:")));
            let value = value.replace('\n', &format!("\n{indent}"));
            format!("{label} {value}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_time(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `2024-05-01 14:02:03` in local time (the input as-is if it does not parse).
pub fn local_time(ts: &str) -> String {
    parse_time(ts)
        .map(|t| {
            t.with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| ts.to_owned())
}

/// `14:02:03` in local time.
pub fn clock(ts: Option<&str>) -> String {
    ts.and_then(parse_time)
        .map(|t| t.with_timezone(&Local).format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "--:--:--".to_owned())
}

/// How long ago `ts` was: `12s ago`, `5m ago`, `3h ago`, `2d ago`.
pub fn age(ts: Option<&str>) -> String {
    let Some(then) = ts.and_then(parse_time) else {
        return "-".to_owned();
    };
    let secs = (Utc::now() - then).num_seconds().max(0);
    match secs {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

/// `text` on one line, at most `max` characters (an ellipsis marks the cut).
pub fn clip(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The runs table.
pub fn runs_table(runs: &[Run], style: Style) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.status.clone(),
                format!("{}/{}", r.attempt, r.max_attempts),
                r.agent.clone(),
                age(r.created_at.as_deref()),
                clip(&r.goal, GOAL_CHARS),
            ]
        })
        .collect();
    let headers = ["ID", "STATUS", "ATTEMPT", "AGENT", "CREATED", "GOAL"];
    table(&headers, &rows, style, |column, cell, padded| {
        if column == 1 {
            style.status(cell, padded)
        } else {
            padded.to_owned()
        }
    })
}

/// One run as `key: value` lines.
pub fn run_details(run: &Run, style: Style) -> String {
    let mut pairs = vec![
        ("id", run.id.clone()),
        ("project", run.project_id.clone()),
        ("goal", run.goal.clone()),
        ("agent", run.agent.clone()),
        ("status", style.status(&run.status, &run.status)),
        (
            "attempt",
            format!("{} of {}", run.attempt, run.max_attempts),
        ),
    ];
    if let Some(timeout) = run.timeout_s {
        pairs.push(("timeout", format!("{timeout} s")));
    }
    if let Some(waiting) = &run.waiting {
        pairs.push(("waiting", waiting.detail.clone()));
    }
    if let Some(worker) = &run.worker_id {
        pairs.push(("worker", worker.clone()));
    }
    if let Some(lease) = &run.lease_until {
        pairs.push(("lease until", local_time(lease)));
    }
    if run.cancel_requested {
        pairs.push(("cancel", "requested".to_owned()));
    }
    for (key, ts) in [
        ("created", &run.created_at),
        ("started", &run.started_at),
        ("finished", &run.finished_at),
        ("updated", &run.updated_at),
    ] {
        if let Some(ts) = ts {
            pairs.push((key, format!("{} ({})", local_time(ts), age(Some(ts)))));
        }
    }
    if let Some(error) = &run.error {
        pairs.push(("error", style.red(error)));
    }
    if run.params.as_object().is_some_and(|p| !p.is_empty()) {
        pairs.push(("params", run.params.to_string()));
    }
    if let Some(result) = run.result.as_ref().filter(|r| !r.is_null()) {
        pairs.push(("result", result_text(result, &run.id)));
    }
    key_values(&pairs, style)
}

/// The result, pretty-printed, with a long `diff` replaced by a pointer to
/// `agent-runner diff`.
fn result_text(result: &Value, run_id: &str) -> String {
    let mut shown = result.clone();
    if let Some(diff) = shown
        .get("diff")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        let note = format!(
            "{} lines; see: agent-runner diff {run_id}",
            diff.lines().count()
        );
        shown["diff"] = Value::String(note);
    }
    serde_json::to_string_pretty(&shown).unwrap_or_else(|_| shown.to_string())
}

/// The projects table.
pub fn projects_table(projects: &[Project], style: Style) -> String {
    let rows: Vec<Vec<String>> = projects
        .iter()
        .map(|p| {
            vec![
                p.id.clone(),
                p.name.clone(),
                p.default_branch.clone().unwrap_or_default(),
                age(p.created_at.as_deref()),
                p.repo_url.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    let headers = ["ID", "NAME", "BRANCH", "CREATED", "REPO"];
    table(&headers, &rows, style, |_, _, padded| padded.to_owned())
}

/// The workers table.
pub fn workers_table(workers: &[Worker], style: Style) -> String {
    let count = |n: Option<i64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            vec![
                w.id.clone(),
                w.hostname.clone().unwrap_or_else(|| "-".to_owned()),
                format!("{}/{}", count(w.in_flight), count(w.concurrency)),
                age(w.started_at.as_deref()),
                age(w.last_heartbeat.as_deref()),
                w.metrics_addr.clone().unwrap_or_else(|| "-".to_owned()),
                w.sandbox.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    let headers = [
        "ID",
        "HOSTNAME",
        "BUSY",
        "STARTED",
        "HEARTBEAT",
        "METRICS",
        "SANDBOX",
    ];
    table(&headers, &rows, style, |_, _, padded| padded.to_owned())
}

/// A unified diff, coloured line by line.
pub fn diff_text(diff: &str, style: Style) -> String {
    diff.lines()
        .map(|line| {
            if line.starts_with("+++") || line.starts_with("---") || line.starts_with("diff ") {
                style.bold(line)
            } else if line.starts_with('+') {
                style.green(line)
            } else if line.starts_with('-') {
                style.red(line)
            } else if line.starts_with("@@") {
                style.cyan(line)
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_on_the_widest_cell() {
        let rows = vec![
            vec!["a".to_owned(), "x".to_owned()],
            vec!["long".to_owned(), "y".to_owned()],
        ];
        let text = table(&["ID", "V"], &rows, Style::plain(), |_, _, p| p.to_owned());
        assert_eq!(text, "ID    V\na     x\nlong  y");
    }

    #[test]
    fn key_values_align_and_indent_continuation_lines() {
        let pairs = [
            ("id", "1".to_owned()),
            ("result", "{\n  \"a\": 1\n}".to_owned()),
        ];
        let text = key_values(&pairs, Style::plain());
        assert_eq!(text, "id:     1\nresult: {\n          \"a\": 1\n        }");
    }

    #[test]
    fn a_waiting_run_says_why_after_its_status() {
        let run: Run = serde_json::from_value(serde_json::json!({
            "id": "r", "status": "QUEUED", "attempt": 0, "max_attempts": 3,
            "waiting": {"reason": "queued", "detail": "queued behind 3 runs"}
        }))
        .expect("a run");
        let text = run_details(&run, Style::plain());
        assert!(
            text.contains("status:  QUEUED\nattempt: 0 of 3\nwaiting: queued behind 3 runs"),
            "{text}"
        );
    }

    #[test]
    fn clip_flattens_and_cuts_with_an_ellipsis() {
        assert_eq!(clip("a\n b", 10), "a b");
        assert_eq!(clip("abcdef", 4), "abc…");
    }

    #[test]
    fn a_long_diff_in_a_result_points_to_the_diff_command() {
        let result = serde_json::json!({"summary": "done", "diff": "a\nb\nc"});
        let text = result_text(&result, "r1");
        assert!(
            text.contains("3 lines; see: agent-runner diff r1"),
            "{text}"
        );
    }
}

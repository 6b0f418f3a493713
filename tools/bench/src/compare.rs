//! `agent-runner-bench compare BASE HEAD`: the summary of an interleaved
//! comparison of two builds (`scripts/bench --compare-to`). Each file holds
//! the JSON lines of one build's runs; for every figure both files carry,
//! it prints the values, their medians and the ratio HEAD / BASE — a table
//! on stderr and one JSON line on stdout. Reads files only.

use crate::stats::round;
use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The figures compared: a label and the field's path in a JSON line.
const FIGURES: &[(&str, &[&str])] = &[
    ("e2e runs/s", &["e2e_runs_per_s"]),
    ("drain runs/s", &["drain_runs_per_s"]),
    ("latency p50 ms", &["latency_ms", "p50"]),
    ("latency p99 ms", &["latency_ms", "p99"]),
    ("pickup p50 ms", &["pickup_ms", "p50"]),
    ("pickup p99 ms", &["pickup_ms", "p99"]),
    ("pg xact/run", &["pg", "xact_commit_per_run"]),
    ("pg row writes/run", &["pg", "row_writes_per_run"]),
    ("pg CPU ms/run", &["pg", "cpu_ms_per_run"]),
    ("pg WAL KiB/run", &["pg", "wal_kib_per_run"]),
    ("pg statements/run", &["pg", "statements", "calls_per_run"]),
    ("postgres cores", &["cpu", "cores_used", "postgres"]),
    ("other cores", &["cpu", "cores_used", "other"]),
];

/// One figure of both builds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compared {
    /// The base build's values, in run order.
    pub base: Vec<f64>,
    /// The head build's values, in run order.
    pub head: Vec<f64>,
    /// Median of `base`.
    pub base_median: f64,
    /// Median of `head`.
    pub head_median: f64,
    /// `head_median / base_median`; absent when the base median is 0.
    pub ratio: Option<f64>,
}

/// The summary: both builds' labels and every figure they share.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The base build (the file's stem, e.g. the revision).
    pub base: String,
    /// The head build.
    pub head: String,
    /// The figures, by label.
    pub figures: BTreeMap<&'static str, Compared>,
}

/// Reads both files, prints the table on stderr and the JSON line on stdout.
pub fn run(base: &Path, head: &Path) -> anyhow::Result<()> {
    let comparison = Comparison::new(label(base), &lines(base)?, label(head), &lines(head)?)?;
    eprint!("{}", comparison.table());
    println!("{}", serde_json::to_string(&comparison)?);
    Ok(())
}

fn label(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into(),
    )
}

fn lines(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(|l| {
            serde_json::from_str(l).with_context(|| format!("bad JSON line in {}", path.display()))
        })
        .collect()
}

impl Comparison {
    /// Compares the runs of `base` with those of `head`.
    pub fn new(
        base: String,
        base_runs: &[Value],
        head: String,
        head_runs: &[Value],
    ) -> anyhow::Result<Self> {
        if base_runs.is_empty() || head_runs.is_empty() {
            bail!(
                "nothing to compare: {} and {} runs",
                base_runs.len(),
                head_runs.len()
            );
        }
        let figures = FIGURES
            .iter()
            .filter_map(|(name, path)| {
                let b = values(base_runs, path);
                let h = values(head_runs, path);
                let (bm, hm) = (median(&b)?, median(&h)?);
                Some((
                    *name,
                    Compared {
                        base: b,
                        head: h,
                        base_median: round(bm, 3),
                        head_median: round(hm, 3),
                        ratio: ratio(bm, hm).map(|r| round(r, 3)),
                    },
                ))
            })
            .collect();
        Ok(Self {
            base,
            head,
            figures,
        })
    }

    /// The readable table: one row per figure.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _infallible = writeln!(
            out,
            "  {:<20} {:>30} {:>30}  ratio",
            "figure",
            format!("{} (median)", self.base),
            format!("{} (median)", self.head),
        );
        for (name, c) in FIGURES
            .iter()
            .filter_map(|(name, _)| self.figures.get(name).map(|c| (name, c)))
        {
            let ratio = c.ratio.map_or("-".to_owned(), |r| format!("x{r:.2}"));
            let _infallible = writeln!(
                out,
                "  {name:<20} {:>30} {:>30}  {ratio}",
                cell(&c.base, c.base_median),
                cell(&c.head, c.head_median)
            );
        }
        out
    }
}

fn cell(values: &[f64], median: f64) -> String {
    let list: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
    format!("{} ({median})", list.join(" "))
}

/// The number at `path` in each line that has one.
fn values(runs: &[Value], path: &[&str]) -> Vec<f64> {
    runs.iter()
        .filter_map(|run| path.iter().try_fold(run, |v, key| v.get(key))?.as_f64())
        .collect()
}

/// The median; the mean of the two middle values for an even count.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// `head / base`, or nothing when `base` is 0.
pub fn ratio(base: f64, head: f64) -> Option<f64> {
    (base != 0.0).then(|| head / base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 2.0, 10.0]), Some(3.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn the_ratio_is_head_over_base_and_absent_for_a_zero_base() {
        assert_eq!(ratio(100.0, 250.0), Some(2.5));
        assert_eq!(ratio(0.0, 1.0), None);
    }

    #[test]
    fn figures_present_in_both_builds_are_compared_by_their_medians() {
        let run = |e2e: f64, xact: f64| {
            json!({"e2e_runs_per_s": e2e, "latency_ms": {"p50": 10.0, "p99": 20.0},
                   "pg": {"xact_commit_per_run": xact, "statements": null}})
        };
        let base = [run(100.0, 4.0), run(120.0, 4.2), run(110.0, 4.1)];
        let head = [run(230.0, 1.0), run(210.0, 1.2), run(220.0, 1.1)];
        let c = Comparison::new("a".into(), &base, "b".into(), &head).expect("compares");
        let e2e = &c.figures["e2e runs/s"];
        assert_eq!(
            (e2e.base_median, e2e.head_median, e2e.ratio),
            (110.0, 220.0, Some(2.0))
        );
        assert_eq!(e2e.base, vec![100.0, 120.0, 110.0]);
        assert_eq!(c.figures["pg xact/run"].ratio, Some(0.268));
        assert_eq!(c.figures["latency p99 ms"].ratio, Some(1.0));
        // Absent (drain) or null (statements) in the lines: not compared.
        assert!(!c.figures.contains_key("drain runs/s"));
        assert!(!c.figures.contains_key("pg statements/run"));
        assert!(c.table().contains("x2.00"));
    }

    #[test]
    fn comparing_nothing_is_an_error() {
        assert!(Comparison::new("a".into(), &[], "b".into(), &[json!({})]).is_err());
    }
}

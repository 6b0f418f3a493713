//! What a bench prints: the figures of each scenario as one JSON line on
//! stdout (rounded, in a stable field order) and as a readable table on
//! stderr. Pure formatting: the figures are computed by the scenarios.
//! The long-runs report lives in [`long_runs`].

use crate::cpu::CpuUsage;
use crate::pg_work::PgWork;
use crate::stats::{Summary, round};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

mod long_runs;

pub use long_runs::{Footprint, LongRuns, ShortPickup, WindowFigures, Windows};

/// p50 and p99, ms.
#[derive(Debug, Clone, Serialize)]
pub struct P50P99 {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl From<Summary> for P50P99 {
    fn from(s: Summary) -> Self {
        Self {
            p50: round(s.p50, 1),
            p99: round(s.p99, 1),
        }
    }
}

/// p50, p95 and p99, ms.
#[derive(Debug, Clone, Serialize)]
pub struct P50P95P99 {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl From<Summary> for P50P95P99 {
    fn from(s: Summary) -> Self {
        Self {
            p50: round(s.p50, 1),
            p95: round(s.p95, 1),
            p99: round(s.p99, 1),
        }
    }
}

/// Resident memory at the end, MiB.
#[derive(Debug, Clone, Serialize)]
pub struct Rss {
    /// The api.
    pub api: f64,
    /// Each worker.
    pub workers: Vec<f64>,
}

impl Rss {
    /// Rounded figures.
    pub fn new(api: f64, workers: &[f64]) -> Self {
        Self {
            api: round(api, 1),
            workers: workers.iter().map(|w| round(*w, 1)).collect(),
        }
    }
}

/// CPU use over the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct Cpu {
    /// Share of all cores busy (0..1).
    pub machine_busy: f64,
    /// Share of CPU time idle waiting on I/O (0..1).
    pub machine_iowait: f64,
    /// Cores used by postgres, rabbitmq, api, workers, bench_client, other.
    pub cores_used: BTreeMap<&'static str, f64>,
    /// Which resource saturates, in a sentence.
    pub saturated: String,
}

impl From<&CpuUsage> for Cpu {
    fn from(u: &CpuUsage) -> Self {
        Self {
            machine_busy: round(u.machine_busy, 2),
            machine_iowait: round(u.machine_iowait, 2),
            cores_used: u
                .cores_used
                .iter()
                .map(|(g, c)| (*g, round(*c, 2)))
                .collect(),
            saturated: u.verdict(),
        }
    }
}

/// When and on what code the bench ran.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// `git rev-parse --short HEAD` of the bench client's checkout, `-dirty`
    /// with uncommitted changes.
    pub git_rev: String,
    /// Where the api and worker binaries came from (with `--compare-to`, not
    /// always the build of `git_rev`).
    pub bin_dir: String,
    /// Start of the bench, RFC 3339 UTC.
    pub started_at: String,
}

/// lifecycle-5 (and each scale-out step).
#[derive(Debug, Clone, Serialize)]
pub struct Lifecycle {
    /// `lifecycle-5`.
    pub scenario: &'static str,
    /// N.
    pub runs: u64,
    /// C.
    pub connections: u32,
    /// W.
    pub workers: u32,
    /// Worker concurrency.
    pub concurrency: u16,
    /// Accepted POSTs per second.
    pub submit_rps: f64,
    /// N / (last finished_at − first created_at).
    pub e2e_runs_per_s: f64,
    /// finished_at − created_at.
    pub latency_ms: P50P95P99,
    /// started_at − created_at.
    pub pickup_ms: P50P99,
    /// GET /v1/runs/{id} during the load.
    pub read_ms: P50P99,
    /// POST /v1/runs round trip.
    pub submit_ms: P50P99,
    /// Resident memory at the end.
    pub rss_mb: Rss,
    /// Share of the machine's CPU the load client used while submitting.
    pub client_cpu_share: f64,
    /// CPU seconds the load client used while submitting.
    pub client_cpu_s: f64,
    /// Share of the machine's CPU that was busy while submitting.
    pub submit_machine_busy: f64,
    /// CPU over submission + execution.
    pub cpu: Cpu,
    /// PostgreSQL's work per run over submission + execution.
    pub pg: PgWork,
    /// Code and time.
    #[serde(flatten)]
    pub meta: Meta,
}

/// scale-out: lifecycle-5 at several worker counts.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleOut {
    /// `scale-out`.
    pub scenario: &'static str,
    /// N per step.
    pub runs: u64,
    /// C.
    pub connections: u32,
    /// Worker concurrency.
    pub concurrency: u16,
    /// e2e runs/s by worker count.
    pub e2e_runs_per_s: BTreeMap<u32, f64>,
    /// e2e runs/s relative to the 1-worker step (or the first step).
    pub ratio_to_first: BTreeMap<u32, f64>,
    /// The full figures of each step.
    pub steps: Vec<Lifecycle>,
    /// Code and time.
    #[serde(flatten)]
    pub meta: Meta,
}

/// idle-pickup: one run at a time.
#[derive(Debug, Clone, Serialize)]
pub struct IdlePickup {
    /// `idle-pickup`.
    pub scenario: &'static str,
    /// Runs, one after the other.
    pub runs: u64,
    /// W.
    pub workers: u32,
    /// Worker concurrency.
    pub concurrency: u16,
    /// started_at − created_at.
    pub pickup_ms: P50P95P99,
    /// finished_at − created_at.
    pub latency_ms: P50P95P99,
    /// POST /v1/runs round trip.
    pub submit_ms: P50P99,
    /// Code and time.
    #[serde(flatten)]
    pub meta: Meta,
}

/// fixed-load: runs arriving at a fixed rate, open loop.
#[derive(Debug, Clone, Serialize)]
pub struct FixedLoad {
    /// `fixed-load`.
    pub scenario: &'static str,
    /// Runs offered per second.
    pub rate: f64,
    /// Seconds they kept arriving.
    pub duration_s: u64,
    /// Runs accepted (all of them, or the bench fails).
    pub runs: u64,
    /// W.
    pub workers: u32,
    /// Worker concurrency.
    pub concurrency: u16,
    /// started_at − created_at.
    pub pickup_ms: P50P95P99,
    /// finished_at − created_at.
    pub latency_ms: P50P95P99,
    /// Code and time.
    #[serde(flatten)]
    pub meta: Meta,
}

/// backlog-drain: N queued runs, then the workers.
#[derive(Debug, Clone, Serialize)]
pub struct BacklogDrain {
    /// `backlog-drain`.
    pub scenario: &'static str,
    /// N.
    pub runs: u64,
    /// C.
    pub connections: u32,
    /// W.
    pub workers: u32,
    /// Worker concurrency.
    pub concurrency: u16,
    /// Accepted POSTs per second with no worker running.
    pub submit_rps: f64,
    /// N / (last finished_at − first started_at).
    pub drain_runs_per_s: f64,
    /// Seconds from the first start to the last finish.
    pub drain_s: f64,
    /// Resident memory at the end.
    pub rss_mb: Rss,
    /// CPU while draining.
    pub cpu: Cpu,
    /// PostgreSQL's work per run from the first submission to the last finish.
    pub pg: PgWork,
    /// Code and time.
    #[serde(flatten)]
    pub meta: Meta,
}

/// One project's figures in a fairness variant.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectFigures {
    /// Its runs.
    pub runs: u64,
    /// finished_at − created_at.
    pub latency_ms: P50P95P99,
    /// started_at − created_at.
    pub pickup_ms: P50P99,
    /// Its last finished_at − its first created_at, seconds.
    pub done_after_s: f64,
}

/// One fairness variant, in its own environment.
#[derive(Debug, Clone, Serialize)]
pub struct FairnessRun {
    /// `fifo`, `fair-share` or `big-limit`.
    pub variant: &'static str,
    /// Whether the api had fair share on (`FAIR_SHARE`).
    pub fair_share: bool,
    /// The big project's `settings.max_concurrent_runs`, if any.
    pub big_max_concurrent_runs: Option<u32>,
    /// Accepted POSTs per second of the big project's submission.
    pub big_submit_rps: f64,
    /// All runs / (last finished_at − first created_at).
    pub e2e_runs_per_s: f64,
    /// The small project.
    pub small: ProjectFigures,
    /// The big project.
    pub big: ProjectFigures,
    /// Big runs that finished after the small project's last one.
    pub big_left_when_small_done: u64,
    /// CPU over submission + execution.
    pub cpu: Cpu,
}

/// fairness: a big backlog and a small project, per variant.
#[derive(Debug, Clone, Serialize)]
pub struct Fairness {
    /// `fairness`.
    pub scenario: &'static str,
    /// Runs of the big project.
    pub big_runs: u64,
    /// Runs of the small project.
    pub small_runs: u64,
    /// C.
    pub connections: u32,
    /// W.
    pub workers: u32,
    /// Worker concurrency.
    pub concurrency: u16,
    /// The simulated agent's pause after each step.
    pub step_delay_ms: u64,
    /// The small project's p50 latency by variant.
    pub small_latency_p50_ms: BTreeMap<&'static str, f64>,
    /// e2e runs/s by variant.
    pub e2e_runs_per_s: BTreeMap<&'static str, f64>,
    /// The full figures of each variant.
    pub variants: Vec<FairnessRun>,
    /// Code and time.
    #[serde(flatten)]
    pub meta: Meta,
}

/// The outcome of any scenario.
#[derive(Debug, Clone)]
pub enum Report {
    /// lifecycle-5.
    Lifecycle(Lifecycle),
    /// scale-out.
    ScaleOut(ScaleOut),
    /// idle-pickup.
    IdlePickup(IdlePickup),
    /// backlog-drain.
    BacklogDrain(BacklogDrain),
    /// fairness.
    Fairness(Fairness),
    /// long-runs (boxed: it is several times the size of the others).
    LongRuns(Box<LongRuns>),
    /// fixed-load.
    FixedLoad(FixedLoad),
}

impl Report {
    /// The JSON line.
    pub fn json_line(&self) -> anyhow::Result<String> {
        Ok(match self {
            Report::Lifecycle(r) => serde_json::to_string(r)?,
            Report::ScaleOut(r) => serde_json::to_string(r)?,
            Report::IdlePickup(r) => serde_json::to_string(r)?,
            Report::BacklogDrain(r) => serde_json::to_string(r)?,
            Report::Fairness(r) => serde_json::to_string(r)?,
            Report::LongRuns(r) => serde_json::to_string(r)?,
            Report::FixedLoad(r) => serde_json::to_string(r)?,
        })
    }

    /// The readable table.
    pub fn table(&self) -> String {
        let mut t = Table::default();
        match self {
            Report::Lifecycle(r) => lifecycle_rows(&mut t, r),
            Report::ScaleOut(r) => {
                t.row(
                    "scenario",
                    format!("scale-out, {} runs per step, C={}", r.runs, r.connections),
                );
                for step in &r.steps {
                    let ratio = r.ratio_to_first.get(&step.workers).copied().unwrap_or(0.0);
                    t.row(
                        &format!("{} worker(s)", step.workers),
                        format!(
                            "{:.1} runs/s e2e (x{ratio:.2}), submit {:.0}/s, p50 {:.0} ms, p99 {:.0} ms",
                            step.e2e_runs_per_s, step.submit_rps, step.latency_ms.p50, step.latency_ms.p99
                        ),
                    );
                    t.row("  cpu", cpu_line(&step.cpu));
                    t.row("  saturated", step.cpu.saturated.clone());
                }
            }
            Report::IdlePickup(r) => {
                t.row(
                    "scenario",
                    format!(
                        "idle-pickup, {} runs one at a time, W={}",
                        r.runs, r.workers
                    ),
                );
                t.row("pickup ms", pcts3(&r.pickup_ms));
                t.row("latency ms", pcts3(&r.latency_ms));
                t.row("submit ms", pcts2(&r.submit_ms));
            }
            Report::FixedLoad(r) => {
                t.row(
                    "scenario",
                    format!(
                        "fixed-load, {} runs/s for {} s ({} runs), W={} x {}",
                        r.rate, r.duration_s, r.runs, r.workers, r.concurrency
                    ),
                );
                t.row("pickup ms", pcts3(&r.pickup_ms));
                t.row("latency ms", pcts3(&r.latency_ms));
            }
            Report::BacklogDrain(r) => {
                t.row(
                    "scenario",
                    format!(
                        "backlog-drain, {} runs, W={} x {}",
                        r.runs, r.workers, r.concurrency
                    ),
                );
                t.row("submit (no workers)", format!("{:.0} runs/s", r.submit_rps));
                t.row(
                    "drain",
                    format!("{:.1} runs/s ({:.1} s)", r.drain_runs_per_s, r.drain_s),
                );
                t.row(
                    "rss MiB",
                    format!("api {:.1}, workers {:?}", r.rss_mb.api, r.rss_mb.workers),
                );
                t.row("cpu (drain)", cpu_line(&r.cpu));
                t.row("saturated", r.cpu.saturated.clone());
                pg_rows(&mut t, &r.pg);
            }
            Report::Fairness(r) => fairness_rows(&mut t, r),
            Report::LongRuns(r) => long_runs::rows(&mut t, r),
        }
        t.0
    }
}

fn fairness_rows(t: &mut Table, r: &Fairness) {
    t.row(
        "scenario",
        format!(
            "fairness, big {} + small {} runs, step delay {} ms, C={} W={} x {}",
            r.big_runs, r.small_runs, r.step_delay_ms, r.connections, r.workers, r.concurrency
        ),
    );
    for v in &r.variants {
        let limit = v
            .big_max_concurrent_runs
            .map_or(String::new(), |n| format!(", big max_concurrent_runs {n}"));
        t.row(
            v.variant,
            format!(
                "fair share {}{limit}: {:.1} runs/s e2e, big submitted at {:.0}/s",
                if v.fair_share { "on" } else { "off" },
                v.e2e_runs_per_s,
                v.big_submit_rps
            ),
        );
        for (name, p) in [("  small", &v.small), ("  big", &v.big)] {
            t.row(
                &format!("{name} latency ms"),
                format!(
                    "{}; all done after {:.1} s",
                    pcts3(&p.latency_ms),
                    p.done_after_s
                ),
            );
            t.row(&format!("{name} pickup ms"), pcts2(&p.pickup_ms));
        }
        t.row(
            "  big left",
            format!(
                "{} big runs finished after the small project's last",
                v.big_left_when_small_done
            ),
        );
        t.row("  cpu (cores)", cpu_line(&v.cpu));
    }
}

fn lifecycle_rows(t: &mut Table, r: &Lifecycle) {
    let setup = format!(
        "{}, N={} C={} W={} x {}",
        r.scenario, r.runs, r.connections, r.workers, r.concurrency
    );
    t.row("scenario", setup);
    t.row(
        "submit",
        format!("{:.0} runs/s (POST {})", r.submit_rps, pcts2(&r.submit_ms)),
    );
    t.row("end to end", format!("{:.1} runs/s", r.e2e_runs_per_s));
    t.row("latency ms", pcts3(&r.latency_ms));
    t.row("pickup ms", pcts2(&r.pickup_ms));
    t.row("read ms", pcts2(&r.read_ms));
    t.row(
        "rss MiB",
        format!("api {:.1}, workers {:?}", r.rss_mb.api, r.rss_mb.workers),
    );
    t.row(
        "client cpu",
        format!(
            "{:.1}% of the machine ({:.1} CPU s) while submitting; machine {:.0}% busy then",
            r.client_cpu_share * 100.0,
            r.client_cpu_s,
            r.submit_machine_busy * 100.0
        ),
    );
    t.row("cpu (cores)", cpu_line(&r.cpu));
    t.row("saturated", r.cpu.saturated.clone());
    pg_rows(t, &r.pg);
}

fn pg_rows(t: &mut Table, pg: &PgWork) {
    t.row(
        "pg per run",
        format!(
            "{:.2} xact ({:.2} rolled back), rows ins {:.2} upd {:.2} del {:.2}, blks read {:.2}",
            pg.xact_commit_per_run,
            pg.xact_rollback_per_run,
            pg.rows_inserted_per_run,
            pg.rows_updated_per_run,
            pg.rows_deleted_per_run,
            pg.blks_read_per_run
        ),
    );
    t.row(
        "pg cost per run",
        format!(
            "{:.3} CPU ms (all postgres processes), {:.2} KiB WAL (cluster-wide)",
            pg.cpu_ms_per_run, pg.wal_kib_per_run
        ),
    );
    match (&pg.statements, &pg.statements_unavailable) {
        (Some(s), _) => {
            t.row(
                "pg statements",
                format!(
                    "{:.2} calls/run, {:.3} ms exec/run; by total time:",
                    s.calls_per_run, s.exec_ms_per_run
                ),
            );
            for top in &s.top {
                t.row(
                    &format!("  {:>4.1}%", top.share * 100.0),
                    format!(
                        "{:.2}/run, mean {:.3} ms: {}",
                        top.calls_per_run, top.mean_ms, top.query
                    ),
                );
            }
        }
        (None, reason) => t.row(
            "pg statements",
            format!(
                "no profile: pg_stat_statements unavailable ({})",
                reason.as_deref().unwrap_or("unknown")
            ),
        ),
    }
}

fn pcts2(p: &P50P99) -> String {
    format!("p50 {:.1}, p99 {:.1}", p.p50, p.p99)
}

fn pcts3(p: &P50P95P99) -> String {
    format!("p50 {:.1}, p95 {:.1}, p99 {:.1}", p.p50, p.p95, p.p99)
}

fn cpu_line(cpu: &Cpu) -> String {
    let groups: Vec<String> = cpu
        .cores_used
        .iter()
        .map(|(g, c)| format!("{g} {c:.2}"))
        .collect();
    format!(
        "busy {:.0}%, iowait {:.0}%: {}",
        cpu.machine_busy * 100.0,
        cpu.machine_iowait * 100.0,
        groups.join(", ")
    )
}

/// Two aligned columns.
#[derive(Debug, Default)]
struct Table(String);

impl Table {
    fn row(&mut self, label: &str, value: String) {
        let _infallible = writeln!(self.0, "  {label:<20} {value}");
    }
}

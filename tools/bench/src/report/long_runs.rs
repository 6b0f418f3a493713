//! The long-runs report: what holding thousands of runs in flight costs per
//! second (PostgreSQL, CPU, worker memory, RabbitMQ) and what it does to the
//! pickup of short runs arriving meanwhile, as the JSON line's fields and
//! the table's rows.

use super::{Cpu, Meta, P50P99, Table, cpu_line, pcts2};
use crate::pg_rates::PgRates;
use crate::rabbitmq::BrokerFigures;
use serde::Serialize;

/// One measured window of wall time.
#[derive(Debug, Clone, Serialize)]
pub struct WindowFigures {
    /// Its length, s.
    pub seconds: f64,
    /// Short runs submitted during it.
    pub short_runs: u64,
    /// PostgreSQL's work per second.
    pub pg: PgRates,
    /// CPU over the window.
    pub cpu: Cpu,
}

/// The four windows, in the order they were measured.
#[derive(Debug, Clone, Serialize)]
pub struct Windows {
    /// No runs at all: the system's background.
    pub idle: WindowFigures,
    /// Short runs only, on the idle system: the pickup baseline.
    pub short_idle: WindowFigures,
    /// The long runs held, nothing else: the cost of holding them.
    pub held: WindowFigures,
    /// The long runs held and short runs arriving.
    pub held_short: WindowFigures,
}

/// The processes' and the broker's state at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    /// Resident memory of each worker, MiB.
    pub worker_rss_mb: Vec<f64>,
    /// Open file descriptors of each worker.
    pub worker_fds: Vec<u64>,
    /// Runs RUNNING on each worker.
    pub running_per_worker: Vec<u64>,
    /// Sessions on the bench database, the bench's own excluded.
    pub pg_sessions: u64,
    /// RabbitMQ's memory and the work queue's counts.
    pub rabbitmq: BrokerFigures,
}

/// The short runs' `started_at − created_at`, idle and with the long runs held.
#[derive(Debug, Clone, Serialize)]
pub struct ShortPickup {
    /// Short runs measured on the idle system.
    pub idle_runs: u64,
    /// Short runs measured while the long runs were held.
    pub loaded_runs: u64,
    /// On the idle system, ms.
    pub idle_ms: P50P99,
    /// While the long runs were held, ms.
    pub loaded_ms: P50P99,
    /// loaded p50 / idle p50.
    pub ratio_p50: f64,
    /// loaded p99 / idle p99.
    pub ratio_p99: f64,
}

/// long-runs: N long runs held on W workers of C slots, short runs arriving.
#[derive(Debug, Clone, Serialize)]
pub struct LongRuns {
    /// `long-runs`.
    pub scenario: &'static str,
    /// Long runs held together.
    pub long_runs: u64,
    /// Workers holding them.
    pub workers: u32,
    /// Their `WORKER_CONCURRENCY`.
    pub concurrency: u16,
    /// How long each long run holds its slot, s.
    pub hold_s: u64,
    /// The long runs' pause after each of their three steps.
    pub step_delay_ms: u64,
    /// Short runs submitted per second (open loop).
    pub short_rate_per_s: f64,
    /// The workers' `HEARTBEAT_S`.
    pub heartbeat_s: u64,
    /// The workers' `DB_POOL_SIZE`.
    pub worker_db_pool: u16,
    /// `WORKER_CONCURRENCY` of the extra worker that takes the short runs
    /// once every slot of the others is held.
    pub short_worker_concurrency: u16,
    /// Accepted POSTs per second of the long runs.
    pub long_submit_rps: f64,
    /// From the first long run's POST until all were RUNNING, s.
    pub all_running_after_s: f64,
    /// PostgreSQL, CPU and short runs per window.
    pub windows: Windows,
    /// Row writes per second of the held window over the idle one.
    pub held_row_writes_per_s: f64,
    /// Leases renewed per second in the held window, counted by
    /// `pg_stat_statements` (None without it).
    pub held_leases_renewed_per_s: Option<f64>,
    /// long runs / `HEARTBEAT_S`: one lease renewal per held run per beat.
    pub expected_lease_writes_per_s: f64,
    /// Before the long runs (after the short-run baseline).
    pub idle: Footprint,
    /// Between the held window and the held + short window.
    pub held: Footprint,
    /// (held RSS − idle RSS) / runs held, per long-run worker, KiB.
    pub rss_kib_per_held_run: Vec<f64>,
    /// The short runs' pickup.
    pub short_pickup: ShortPickup,
    /// Short runs of the held window that the extra worker took.
    pub short_runs_on_extra_worker: u64,
    /// Runs verified COMPLETED with exactly the lifecycle-5 events.
    pub completed_runs: u64,
    /// Code and time.
    #[serde(flatten)]
    pub meta: Meta,
}

/// The table rows of a long-runs report.
pub(super) fn rows(t: &mut Table, r: &LongRuns) {
    t.row(
        "scenario",
        format!(
            "long-runs, {} runs of {} s held on W={} x {} (+1 worker x {} for short runs), \
             short runs {:.0}/s, HEARTBEAT_S {}, DB_POOL_SIZE {}",
            r.long_runs,
            r.hold_s,
            r.workers,
            r.concurrency,
            r.short_worker_concurrency,
            r.short_rate_per_s,
            r.heartbeat_s,
            r.worker_db_pool
        ),
    );
    t.row(
        "long runs",
        format!(
            "submitted at {:.0}/s, all RUNNING {:.1} s after the first POST; held per worker {:?}",
            r.long_submit_rps, r.all_running_after_s, r.held.running_per_worker
        ),
    );
    for (name, w) in [
        ("idle", &r.windows.idle),
        ("short only", &r.windows.short_idle),
        ("held", &r.windows.held),
        ("held + short", &r.windows.held_short),
    ] {
        window_rows(t, name, w);
    }
    t.row(
        "held - idle",
        format!(
            "{:.1} row writes/s; leases renewed {}, expected {:.1}/s (runs / HEARTBEAT_S)",
            r.held_row_writes_per_s,
            r.held_leases_renewed_per_s
                .map_or("unknown (no pg_stat_statements)".to_owned(), |n| format!(
                    "{n:.1}/s"
                )),
            r.expected_lease_writes_per_s
        ),
    );
    for (name, f) in [("idle", &r.idle), ("held", &r.held)] {
        t.row(
            &format!("{name} footprint"),
            format!(
                "worker RSS MiB {:?}, fds {:?}, pg sessions {}",
                f.worker_rss_mb, f.worker_fds, f.pg_sessions
            ),
        );
        t.row(
            &format!("{name} rabbitmq"),
            format!(
                "mem_used {:.1} MiB, fds {}, queue {} messages ({} unacked), queue memory {:.2} MiB",
                f.rabbitmq.mem_used_mib,
                f.rabbitmq.fd_used,
                f.rabbitmq.messages,
                f.rabbitmq.unacked,
                f.rabbitmq.queue_memory_mib
            ),
        );
    }
    t.row(
        "rss per held run",
        format!("{:?} KiB per worker", r.rss_kib_per_held_run),
    );
    let p = &r.short_pickup;
    t.row(
        "short pickup ms",
        format!(
            "idle {} ({} runs); held {} ({} runs, {} on the extra worker); x{:.2} p50, x{:.2} p99",
            pcts2(&p.idle_ms),
            p.idle_runs,
            pcts2(&p.loaded_ms),
            p.loaded_runs,
            r.short_runs_on_extra_worker,
            p.ratio_p50,
            p.ratio_p99
        ),
    );
    t.row(
        "verified",
        format!(
            "{} runs COMPLETED with exactly the lifecycle-5 events",
            r.completed_runs
        ),
    );
}

fn window_rows(t: &mut Table, name: &str, w: &WindowFigures) {
    let pg = &w.pg;
    t.row(
        &format!("{name} ({:.0} s)", w.seconds),
        format!(
            "pg {:.1} xact/s, {:.1} row writes/s (upd {:.1}, ins {:.1}), {:.1} KiB WAL/s, {:.3} cores; {} short runs",
            pg.xact_per_s,
            pg.row_writes_per_s,
            pg.rows_updated_per_s,
            pg.rows_inserted_per_s,
            pg.wal_kib_per_s,
            pg.cpu_cores,
            w.short_runs
        ),
    );
    if let (Some(statements), Some(leases)) = (pg.renewal_statements_per_s, pg.leases_renewed_per_s)
    {
        t.row(
            "  lease renewals",
            format!(
                "{statements:.2} statements/s renewing {leases:.1} leases/s (pg_stat_statements)"
            ),
        );
    }
    for st in &pg.statements_by_rows {
        t.row(
            "  statement",
            format!(
                "{:.2} calls/s, {:.1} rows/s: {}",
                st.calls_per_s, st.rows_per_s, st.query
            ),
        );
    }
    let tables: Vec<String> = pg
        .row_writes_by_table
        .iter()
        .map(|(table, n)| format!("{table} {n:.1}"))
        .collect();
    t.row("  writes/s by table", tables.join(", "));
    t.row("  cpu (cores)", cpu_line(&w.cpu));
}

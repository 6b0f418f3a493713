//! long-runs: N long runs (the simulated agent pausing `--hold-s`/3 after
//! each step) held in flight together on W workers of C slots, while short
//! runs arrive at a fixed open-loop rate. Four windows in one environment:
//!
//! 1. `idle`: nothing runs (the system's background);
//! 2. `short_idle`: short runs only, the pickup baseline;
//! 3. then the long runs are submitted; once all are RUNNING, an extra
//!    worker starts for the short runs (the others' slots are all held:
//!    prefetch = `WORKER_CONCURRENCY`), and `held` measures them held with
//!    nothing else, so the short runs' own work stays out of it;
//! 4. `held_short`: held, with short runs arriving again.
//!
//! A backend that has just published its statistics defers the next
//! publication up to 10 s (`PGSTAT_IDLE_INTERVAL`), so each window that
//! follows a burst starts [`SETTLE`] after it. The held windows last one
//! step of the long runs (`--hold-s` / 3, 20 s = 4 heartbeats by default):
//! each then holds exactly one step event of every long run, whatever the
//! lag, and whole heartbeats. Both end before the first long run does.
//! Then every run is awaited and verified.

mod footprint;
mod window;

use super::{ensure_all_accepted, in_fresh_env};
use crate::api::Api;
use crate::args::Args;
use crate::environment::BenchEnv;
use crate::load::{self, Batch};
use crate::poll;
use crate::report::{Footprint, LongRuns, Meta, ShortPickup, Windows};
use crate::stats::{Summary, round};
use anyhow::{Context, bail};
use std::time::{Duration, Instant};
use uuid::Uuid;
use window::ShortRuns;

/// Length of the idle window, s (rounded up to whole heartbeats).
const IDLE_S: u64 = 10;
/// Wait after a burst before a window starts: PostgreSQL's deferred
/// statistics (10 s), and a second more.
const SETTLE: Duration = Duration::from_secs(11);
/// `WORKER_CONCURRENCY` of the worker that takes the short runs.
const SHORT_WORKER_CONCURRENCY: u16 = 8;
/// The held windows end this long before the first long run can.
const MARGIN: Duration = Duration::from_secs(1);
/// The api's `DB_POOL_SIZE` default, for the connection budget.
const API_DB_POOL: u64 = 16;

/// Runs the scenario in a fresh environment.
pub async fn run(args: &Args, meta: Meta) -> anyhow::Result<LongRuns> {
    in_fresh_env(args, async |env: &mut BenchEnv| {
        measure(env, args, meta).await
    })
    .await
}

async fn measure(env: &mut BenchEnv, args: &Args, meta: Meta) -> anyhow::Result<LongRuns> {
    let (long_runs, workers, concurrency) = (args.runs(), args.workers(), args.concurrency());
    let slots = u64::from(workers) * u64::from(concurrency);
    if long_runs > slots {
        bail!("{long_runs} long runs cannot all be held by {workers} x {concurrency} slots");
    }
    if !(args.short_rate > 0.0 && args.short_rate <= 1000.0) {
        bail!("--short-rate must be above 0 and at most 1000 runs a second");
    }
    let beat = Duration::from_secs(args.heartbeat_s);
    let heartbeat = ("HEARTBEAT_S".to_owned(), args.heartbeat_s.to_string());
    env.launcher.env.push(heartbeat);
    env.start_api().await?;
    // For the exact count of lease renewals and the statements by rows,
    // which the table counters cannot give.
    if let Err(err) = env
        .db
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
    {
        let reason = err
            .as_db_error()
            .map_or_else(|| err.to_string(), |db| db.message().to_owned());
        eprintln!("bench: no pg_stat_statements ({reason}), so no count of lease renewals");
    }
    check_connection_budget(env, args, workers + 1).await?;
    // Pushed after the api started, so only the workers get it.
    let pool = args.worker_db_pool.to_string();
    env.launcher.env.push(("DB_POOL_SIZE".to_owned(), pool));
    env.start_workers(workers, concurrency).await?;
    let api = Api::new(&env.base, &env.token)?;
    let short = ShortRuns {
        api: &api,
        project_id: env.project_id,
        per_s: args.short_rate,
    };
    tokio::time::sleep(SETTLE).await;

    eprintln!("bench: idle window");
    let (idle, _) = window::measure(env, whole_beats(IDLE_S, beat), None).await?;
    eprintln!(
        "bench: short runs at {}/s on the idle system",
        args.short_rate
    );
    let baseline_length = whole_beats(args.hold_s / 2, beat);
    let (short_idle, idle_ids) = window::measure(env, baseline_length, Some(short)).await?;
    let idle_pickup = poll::pickup_ms_of(&env.db, &idle_ids).await?;
    let idle_footprint = footprint::read(env).await?;

    let step_delay_ms = args.hold_s * 1000 / 3;
    eprintln!("bench: submitting {long_runs} runs that hold their slot {step_delay_ms} ms x 3");
    let submitted = Instant::now();
    let first_ending = submitted + Duration::from_millis(step_delay_ms * 3);
    let batch = Batch {
        project_id: env.project_id,
        runs: long_runs,
        step_delay_ms,
    };
    let load = load::submit(&env.base, &env.token, batch, args.connections, false).await?;
    ensure_all_accepted(&load, long_runs)?;
    let running_timeout = Duration::from_secs(args.hold_s / 2);
    poll::wait_running(&env.db, long_runs, &mut env.fleet, running_timeout).await?;
    let all_running_after = submitted.elapsed();
    eprintln!(
        "bench: all {long_runs} RUNNING after {:.1}s; starting the short-run worker",
        all_running_after.as_secs_f64()
    );
    let settled = Instant::now() + SETTLE;
    env.start_workers(1, SHORT_WORKER_CONCURRENCY).await?;
    let length = held_window(step_delay_ms, beat);
    let ends = settled + length * 2 + MARGIN;
    if ends > first_ending {
        bail!(
            "the two held windows of {}s would end {:.1}s after the first long run; raise --hold-s",
            length.as_secs(),
            (ends - first_ending).as_secs_f64()
        );
    }
    tokio::time::sleep_until(settled.into()).await;

    eprintln!("bench: held window ({} s)", length.as_secs());
    let (held, _) = window::measure(env, length, None).await?;
    let held_footprint = footprint::read(env).await?;
    eprintln!(
        "bench: held window with short runs ({} s)",
        length.as_secs()
    );
    let (held_short, loaded_ids) = window::measure(env, length, Some(short)).await?;
    let loaded_pickup = poll::pickup_ms_of(&env.db, &loaded_ids).await?;
    let on_extra = taken_by(env, &loaded_ids, workers as usize).await?;

    let total = long_runs + idle_ids.len() as u64 + loaded_ids.len() as u64;
    eprintln!("bench: waiting for all {total} runs to finish");
    poll::wait_terminal(&env.db, total, &mut env.fleet).await?;
    env.fleet.stop_all().await;
    poll::verify(&env.db, total).await?;

    let (idle_s, loaded_s) = (Summary::of(&idle_pickup), Summary::of(&loaded_pickup));
    Ok(LongRuns {
        scenario: "long-runs",
        long_runs,
        workers,
        concurrency,
        hold_s: args.hold_s,
        step_delay_ms,
        short_rate_per_s: args.short_rate,
        heartbeat_s: args.heartbeat_s,
        worker_db_pool: args.worker_db_pool,
        short_worker_concurrency: SHORT_WORKER_CONCURRENCY,
        long_submit_rps: round(load.submit_rps(), 1),
        all_running_after_s: round(all_running_after.as_secs_f64(), 1),
        held_row_writes_per_s: round(held.pg.row_writes_per_s - idle.pg.row_writes_per_s, 1),
        held_leases_renewed_per_s: held.pg.leases_renewed_per_s,
        expected_lease_writes_per_s: round(long_runs as f64 / args.heartbeat_s as f64, 1),
        rss_kib_per_held_run: rss_per_run(&idle_footprint, &held_footprint, workers as usize),
        idle: idle_footprint,
        held: held_footprint,
        short_pickup: ShortPickup {
            idle_runs: idle_s.count as u64,
            loaded_runs: loaded_s.count as u64,
            idle_ms: idle_s.into(),
            loaded_ms: loaded_s.into(),
            ratio_p50: round(loaded_s.p50 / idle_s.p50.max(1e-9), 2),
            ratio_p99: round(loaded_s.p99 / idle_s.p99.max(1e-9), 2),
        },
        short_runs_on_extra_worker: on_extra,
        windows: Windows {
            idle,
            short_idle,
            held,
            held_short,
        },
        completed_runs: total,
        meta,
    })
}

/// `secs` rounded up to a whole number of heartbeats: each worker then
/// renews its leases the same number of times in every window.
fn whole_beats(secs: u64, beat: Duration) -> Duration {
    let beat_s = beat.as_secs().max(1);
    Duration::from_secs(secs.max(1).div_ceil(beat_s) * beat_s)
}

/// The length of each held window: one step of the long runs, rounded to
/// whole heartbeats (at least one).
fn held_window(step_delay_ms: u64, beat: Duration) -> Duration {
    let beat_ms = u64::try_from(beat.as_millis()).unwrap_or(1000).max(1);
    let beats = ((step_delay_ms + beat_ms / 2) / beat_ms).max(1);
    Duration::from_millis(beats * beat_ms)
}

/// (held − idle) RSS per run held, KiB, for each of the first `workers`.
fn rss_per_run(idle: &Footprint, held: &Footprint, workers: usize) -> Vec<f64> {
    (0..workers)
        .map(|i| {
            let before = idle.worker_rss_mb.get(i).copied().unwrap_or(0.0);
            let after = held.worker_rss_mb.get(i).copied().unwrap_or(0.0);
            let runs = held.running_per_worker.get(i).copied().unwrap_or(0).max(1);
            round((after - before) * 1024.0 / runs as f64, 1)
        })
        .collect()
}

/// How many of `ids` the worker number `index` took.
async fn taken_by(env: &BenchEnv, ids: &[Uuid], index: usize) -> anyhow::Result<u64> {
    let worker_id = env.launcher.worker_id(index);
    let taken: i64 = env
        .db
        .query_one(
            "SELECT count(*) FROM runs WHERE id = ANY($1) AND worker_id = $2",
            &[&ids, &worker_id],
        )
        .await
        .context("cannot count the short runs per worker")?
        .get(0);
    Ok(u64::try_from(taken).unwrap_or(0))
}

/// Fails when the workers' pools and the api's could ask PostgreSQL for more
/// connections than `max_connections` less the reserved ones; warns when
/// they could ask for more than is left beside the sessions already open
/// (other users of the server come and go).
async fn check_connection_budget(env: &BenchEnv, args: &Args, workers: u32) -> anyhow::Result<()> {
    let row = env
        .db
        .query_one(
            "SELECT current_setting('max_connections')::int8,
                    current_setting('superuser_reserved_connections')::int8,
                    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')",
            &[],
        )
        .await
        .context("cannot read max_connections")?;
    let (max, reserved, open): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let usable = u64::try_from(max - reserved).unwrap_or(0);
    let left = usable.saturating_sub(u64::try_from(open).unwrap_or(0));
    // Each worker also holds one connection of its own to LISTEN for cancels.
    let wanted = u64::from(workers) * (u64::from(args.worker_db_pool) + 1) + API_DB_POOL;
    let budget = format!(
        "{workers} workers with DB_POOL_SIZE {} and the api could open {wanted} connections; \
         PostgreSQL has max_connections {max}, {reserved} reserved, {open} open",
        args.worker_db_pool
    );
    if wanted > usable {
        bail!("{budget}: lower --worker-db-pool");
    }
    if wanted > left {
        eprintln!("bench: warning: {budget}, so only {left} are left now");
    } else {
        eprintln!("bench: {budget}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_heartbeats() {
        let beat = Duration::from_secs(5);
        assert_eq!(whole_beats(10, beat), Duration::from_secs(10));
        assert_eq!(whole_beats(31, beat), Duration::from_secs(35));
        assert_eq!(whole_beats(0, beat), Duration::from_secs(5));
    }

    #[test]
    fn a_held_window_is_one_step_in_whole_heartbeats() {
        let beat = Duration::from_secs(5);
        assert_eq!(held_window(20_000, beat), Duration::from_secs(20));
        assert_eq!(held_window(21_000, beat), Duration::from_secs(20));
        assert_eq!(held_window(23_000, beat), Duration::from_secs(25));
        assert_eq!(held_window(1_000, beat), Duration::from_secs(5));
    }

    #[test]
    fn memory_per_held_run_is_the_growth_over_the_runs_held() {
        let footprint = |rss: f64, running: u64| Footprint {
            worker_rss_mb: vec![rss],
            worker_fds: vec![0],
            running_per_worker: vec![running],
            pg_sessions: 0,
            rabbitmq: Default::default(),
        };
        let per_run = rss_per_run(&footprint(20.0, 0), &footprint(70.0, 500), 1);
        assert_eq!(per_run, vec![102.4]);
    }
}

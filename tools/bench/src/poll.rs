//! Reading the outcome from PostgreSQL: wait until every run is terminal
//! (one count query every 200 ms), verify that every run completed with
//! exactly the lifecycle-5 events, and fetch the timestamps the figures are
//! computed from. Read-only: this module never changes a row.

use agent_runner_fleet::Fleet;
use anyhow::{Context, bail};
use std::time::{Duration, Instant};
use tokio_postgres::Client;
use uuid::Uuid;

/// How often the terminal count is polled.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// Fail when the terminal count has not moved for this long.
const STALL_AFTER: Duration = Duration::from_secs(90);
/// The events every run must have, in seq order 1..6.
pub const LIFECYCLE_5: &str =
    "RUN_CREATED,RUN_STARTED,AGENT_THINKING,PLAN_GENERATED,EXECUTING,RUN_COMPLETED";

/// The terminal statuses (they never change again).
const TERMINAL: &str = "('COMPLETED', 'FAILED', 'CANCELLED', 'REJECTED')";

/// A generous deadline for `runs` runs: a minute plus 50 ms a run.
pub fn timeout_for(runs: u64) -> Duration {
    Duration::from_secs(60)
        + Duration::from_millis(50).saturating_mul(u32::try_from(runs).unwrap_or(u32::MAX))
}

/// Waits until `expected` runs are terminal, checking that the processes live.
pub async fn wait_terminal(db: &Client, expected: u64, fleet: &mut Fleet) -> anyhow::Result<()> {
    let timeout = timeout_for(expected);
    let started = Instant::now();
    let (mut last, mut last_change) = (0, Instant::now());
    let query = format!("SELECT count(*) FROM runs WHERE status IN {TERMINAL}");
    loop {
        let row = db
            .query_one(&query, &[])
            .await
            .context("cannot count terminal runs")?;
        let done = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        if done >= expected {
            return Ok(());
        }
        fleet.ensure_alive()?;
        if done != last {
            (last, last_change) = (done, Instant::now());
        }
        if started.elapsed() > timeout || last_change.elapsed() > STALL_AFTER {
            let statuses = status_counts(db).await.unwrap_or_default();
            bail!(
                "only {done} of {expected} runs are terminal after {:.0}s (no progress for {:.0}s); by status: {statuses}",
                started.elapsed().as_secs_f64(),
                last_change.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// `STATUS=count, …` over all runs.
pub async fn status_counts(db: &Client) -> anyhow::Result<String> {
    let rows = db
        .query(
            "SELECT status, count(*) FROM runs GROUP BY status ORDER BY status",
            &[],
        )
        .await?;
    let parts: Vec<String> = rows
        .iter()
        .map(|r| format!("{}={}", r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect();
    Ok(parts.join(", "))
}

/// Runs that did not complete with exactly the lifecycle-5 events, or an
/// error when the run count differs from `expected`. Prints the offenders.
pub async fn verify(db: &Client, expected: u64) -> anyhow::Result<()> {
    let total: i64 = db.query_one("SELECT count(*) FROM runs", &[]).await?.get(0);
    // One pass over the events: kinds in seq order, count, max(seq) and
    // min(seq) per run, so gaps, duplicates and extra attempts all show.
    let offenders = db
        .query(
            "SELECT r.id::text, r.status, coalesce(e.kinds, ''), coalesce(e.n, 0), coalesce(e.max_seq, 0),
                    coalesce(e.min_seq, 0)
             FROM runs r
             LEFT JOIN (SELECT run_id, string_agg(kind, ',' ORDER BY seq) AS kinds, count(*) AS n,
                               max(seq) AS max_seq, min(seq) AS min_seq
                        FROM events GROUP BY run_id) e ON e.run_id = r.id
             WHERE r.status <> 'COMPLETED' OR e.kinds IS DISTINCT FROM $1
                OR e.max_seq <> e.n OR e.min_seq <> 1
             ORDER BY r.created_at",
            &[&LIFECYCLE_5],
        )
        .await
        .context("cannot verify the runs")?;
    for row in offenders.iter().take(50) {
        eprintln!(
            "bench: run {} is {} with events [{}] (count {}, seq {}..{})",
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
            row.get::<_, i64>(3),
            row.get::<_, i32>(5),
            row.get::<_, i32>(4),
        );
    }
    if !offenders.is_empty() {
        bail!(
            "{} of {total} runs did not complete with exactly {LIFECYCLE_5}{}",
            offenders.len(),
            if offenders.len() > 50 {
                " (first 50 listed above)"
            } else {
                " (listed above)"
            }
        );
    }
    if u64::try_from(total).ok() != Some(expected) {
        bail!("expected {expected} runs in the database, found {total}");
    }
    Ok(())
}

/// The timestamps of a finished workload, in milliseconds.
#[derive(Debug, Default)]
pub struct Timings {
    /// `finished_at − created_at` per run.
    pub latency_ms: Vec<f64>,
    /// `started_at − created_at` per run.
    pub pickup_ms: Vec<f64>,
    /// `max(finished_at) − min(created_at)`, seconds.
    pub created_to_finished_s: f64,
    /// `max(finished_at) − min(started_at)`, seconds.
    pub started_to_finished_s: f64,
}

/// Reads every run's timestamps.
pub async fn timings(db: &Client) -> anyhow::Result<Timings> {
    timings_of(db, None).await
}

/// Reads the timestamps of the runs of `project` (of every run with None).
pub async fn timings_of(db: &Client, project: Option<Uuid>) -> anyhow::Result<Timings> {
    let rows = db
        .query(
            "SELECT (extract(epoch FROM finished_at - created_at) * 1000)::float8,
                    (extract(epoch FROM started_at - created_at) * 1000)::float8
             FROM runs WHERE finished_at IS NOT NULL AND started_at IS NOT NULL
               AND ($1::uuid IS NULL OR project_id = $1)",
            &[&project],
        )
        .await
        .context("cannot read run timestamps")?;
    let span = db
        .query_one(
            "SELECT coalesce(extract(epoch FROM max(finished_at) - min(created_at))::float8, 0),
                    coalesce(extract(epoch FROM max(finished_at) - min(started_at))::float8, 0)
             FROM runs WHERE $1::uuid IS NULL OR project_id = $1",
            &[&project],
        )
        .await
        .context("cannot read the run window")?;
    Ok(Timings {
        latency_ms: rows.iter().map(|r| r.get(0)).collect(),
        pickup_ms: rows.iter().map(|r| r.get(1)).collect(),
        created_to_finished_s: span.get(0),
        started_to_finished_s: span.get(1),
    })
}

/// How many runs of `project` finished after the last run of `other` did:
/// what was still left of one project when the other was done.
pub async fn finished_after_last_of(
    db: &Client,
    project: Uuid,
    other: Uuid,
) -> anyhow::Result<u64> {
    let row = db
        .query_one(
            "SELECT count(*) FROM runs
             WHERE project_id = $1
               AND finished_at > (SELECT max(finished_at) FROM runs WHERE project_id = $2)",
            &[&project, &other],
        )
        .await
        .context("cannot compare the projects' endings")?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Waits until `id` is terminal (polling every few ms); for one-at-a-time runs.
pub async fn wait_run_terminal(db: &Client, id: Uuid, fleet: &mut Fleet) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let query = format!("SELECT status IN {TERMINAL} FROM runs WHERE id = $1");
    while Instant::now() < deadline {
        let done: bool = db
            .query_one(&query, &[&id])
            .await
            .context("cannot read the run")?
            .get(0);
        if done {
            return Ok(());
        }
        fleet.ensure_alive()?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!("run {id} is not terminal after 60s")
}

/// Waits until at least `expected` runs are RUNNING at once, failing after
/// `timeout`; returns how long that took.
pub async fn wait_running(
    db: &Client,
    expected: u64,
    fleet: &mut Fleet,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let running: i64 = db
            .query_one("SELECT count(*) FROM runs WHERE status = 'RUNNING'", &[])
            .await
            .context("cannot count running runs")?
            .get(0);
        if u64::try_from(running).unwrap_or(0) >= expected {
            return Ok(started.elapsed());
        }
        fleet.ensure_alive()?;
        if started.elapsed() > timeout {
            let statuses = status_counts(db).await.unwrap_or_default();
            bail!(
                "only {running} of {expected} runs are RUNNING after {timeout:?}; by status: {statuses}"
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// `started_at − created_at` (ms) of each of `ids`, once every one of them
/// has started (failing when some have not after 60 s).
pub async fn pickup_ms_of(db: &Client, ids: &[Uuid]) -> anyhow::Result<Vec<f64>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = db
            .query(
                "SELECT (extract(epoch FROM started_at - created_at) * 1000)::float8
                 FROM runs WHERE id = ANY($1) AND started_at IS NOT NULL",
                &[&ids],
            )
            .await
            .context("cannot read the runs' pickup")?;
        if rows.len() >= ids.len() {
            return Ok(rows.iter().map(|r| r.get(0)).collect());
        }
        if Instant::now() >= deadline {
            bail!(
                "only {} of {} runs had started after 60s",
                rows.len(),
                ids.len()
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_grows_with_the_run_count() {
        assert_eq!(timeout_for(0), Duration::from_secs(60));
        assert_eq!(timeout_for(20_000), Duration::from_secs(1060));
    }
}

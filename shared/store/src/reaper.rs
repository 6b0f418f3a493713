//! The reaper's queries: runs that no delivery will bring back.
//!
//! A crashed worker's delivery is redelivered by RabbitMQ and the next claim
//! takes the run once its lease has expired. Two cases escape that path:
//! - a RUNNING run whose lease expired and whose message is gone (dead-lettered
//!   after the delivery limit, purged, or lost with the broker): it is handed
//!   to a new attempt through the outbox, or ends FAILED when it has used its
//!   attempts (CANCELLED when a cancel was requested);
//! - a QUEUED or RETRYING run whose message was published but never started
//!   within a bound: its message is published again (a parked run has no
//!   message by design: [`crate::admission`] wakes it).
//!
//! Every update is guarded by the state it was selected in, so a run that
//! completes (or is claimed) meanwhile is left alone; a duplicate message is
//! harmless, since a claim is a guarded update too.

use crate::StoreError;
use deadpool_postgres::Pool;

/// How stale a run must be before the reaper touches it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Seconds past its `lease_until`, or its worker's, before a RUNNING run
    /// counts as orphaned.
    pub lease_grace_s: f64,
    /// Seconds a QUEUED or RETRYING run may wait after its last publish.
    pub queued_after_s: f64,
    /// Runs handled per statement.
    pub batch: i64,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Orphaned RUNNING runs handed to a new attempt (RETRYING + outbox row).
    pub requeued: u64,
    /// Orphaned RUNNING runs that had used their attempts: FAILED.
    pub failed: u64,
    /// Orphaned RUNNING runs whose cancel was requested: CANCELLED.
    pub cancelled: u64,
    /// QUEUED or RETRYING runs whose message was published again.
    pub republished: u64,
}

impl Reaped {
    /// Whether new outbox rows were written (the relay should look now).
    pub fn wrote_outbox(&self) -> bool {
        self.requeued + self.republished > 0
    }

    /// Whether the pass changed anything.
    pub fn any(&self) -> bool {
        self.wrote_outbox() || self.failed + self.cancelled > 0
    }
}

/// Selects orphaned RUNNING runs (guarded, locked, skipping rows others hold).
const ORPHANS: &str = "SELECT id FROM runs
    WHERE status = 'RUNNING'
      AND (lease_until < clock_timestamp() - make_interval(secs => $1)
           OR EXISTS (SELECT 1 FROM workers w WHERE w.id = runs.worker_id
                        AND w.lease_until < clock_timestamp() - make_interval(secs => $1)))
      AND {filter}
    ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED";

/// One reaper pass over all cases.
pub async fn reap(pool: &Pool, bounds: Bounds) -> Result<Reaped, StoreError> {
    Ok(Reaped {
        cancelled: orphans_ended(pool, bounds, &CANCELLED).await?,
        failed: orphans_ended(pool, bounds, &FAILED).await?,
        requeued: orphans_requeued(pool, bounds).await?,
        republished: stale_queued(pool, bounds).await?,
    })
}

async fn orphans_requeued(pool: &Pool, bounds: Bounds) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!(
                "WITH stale AS ({}),
                 r AS (
                    UPDATE runs SET status = 'RETRYING', lease_until = NULL,
                           error = 'lease expired: worker ' || COALESCE(worker_id, '?') || ' stopped heartbeating',
                           last_seq = last_seq + 1, updated_at = clock_timestamp()
                    FROM stale WHERE runs.id = stale.id AND runs.status = 'RUNNING'
                    RETURNING runs.id, runs.last_seq, runs.attempt, runs.error, runs.worker_id),
                 e AS (
                    INSERT INTO events (run_id, seq, attempt, kind, payload)
                    SELECT id, last_seq, attempt, 'RUN_RETRYING',
                           jsonb_build_object('attempt', attempt, 'error', error, 'delay_ms', 0,
                                              'reaped', true, 'worker_id', worker_id)
                    FROM r)
                 INSERT INTO outbox (run_id, attempt) SELECT id, attempt + 1 FROM r RETURNING run_id",
                ORPHANS.replace("{filter}", "NOT cancel_requested AND attempt < max_attempts"),
            ),
            &[&bounds.lease_grace_s, &bounds.batch],
        )
        .await?;
    Ok(rows.len() as u64)
}

/// How an orphan that gets no new attempt ends.
struct Ending {
    /// Which orphans (a condition on `runs`).
    filter: &'static str,
    /// The terminal status.
    status: &'static str,
    /// The `runs.error` expression (SQL).
    error: &'static str,
    /// The event written.
    kind: &'static str,
    /// Its payload (SQL, over the updated row `r`).
    payload: &'static str,
}

/// Out of attempts: FAILED, naming the worker that stopped heartbeating.
const FAILED: Ending = Ending {
    filter: "NOT cancel_requested AND attempt >= max_attempts",
    status: "FAILED",
    error: "'lost: attempt ' || attempt || ' of ' || max_attempts
            || ' stopped heartbeating (worker ' || COALESCE(worker_id, '?')
            || ') and no attempts are left'",
    kind: "RUN_FAILED",
    payload: "jsonb_build_object('error', r.error, 'reaped', true)",
};

/// A cancel was requested but no worker is left to act on it: CANCELLED.
const CANCELLED: Ending = Ending {
    filter: "cancel_requested",
    status: "CANCELLED",
    error: "error",
    kind: "RUN_CANCELLED",
    payload: "jsonb_build_object('reason', 'cancel requested', 'reaped', true)",
};

async fn orphans_ended(pool: &Pool, bounds: Bounds, ending: &Ending) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    let n = client
        .execute(
            &format!(
                "WITH stale AS ({stale}),
                 r AS (
                    UPDATE runs SET status = '{status}', lease_until = NULL, error = {error},
                           finished_at = clock_timestamp(), last_seq = last_seq + 1,
                           updated_at = clock_timestamp()
                    FROM stale WHERE runs.id = stale.id AND runs.status = 'RUNNING'
                    RETURNING runs.id, runs.last_seq, runs.attempt, runs.error)
                 INSERT INTO events (run_id, seq, attempt, kind, payload)
                 SELECT r.id, r.last_seq, r.attempt, '{kind}', {payload} FROM r",
                stale = ORPHANS.replace("{filter}", ending.filter),
                status = ending.status,
                error = ending.error,
                kind = ending.kind,
                payload = ending.payload,
            ),
            &[&bounds.lease_grace_s, &bounds.batch],
        )
        .await?;
    Ok(n)
}

/// QUEUED or RETRYING runs that have waited past the bound since their last
/// publish (a retry counts from when its delay ended) with nothing pending in
/// the outbox: publish them again.
async fn stale_queued(pool: &Pool, bounds: Bounds) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "WITH stale AS (
                SELECT r.id FROM runs r
                WHERE r.status IN ('QUEUED', 'RETRYING') AND r.parked_at IS NULL
                  AND r.updated_at < clock_timestamp() - make_interval(secs => $1)
                  AND NOT EXISTS (
                      SELECT 1 FROM outbox o WHERE o.run_id = r.id
                        AND (o.sent_at IS NULL
                             OR o.sent_at + make_interval(secs => o.delay_ms / 1000.0)
                                > clock_timestamp() - make_interval(secs => $1)))
                ORDER BY r.updated_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED),
             u AS (
                UPDATE runs SET updated_at = clock_timestamp()
                FROM stale WHERE runs.id = stale.id AND runs.status IN ('QUEUED', 'RETRYING')
                RETURNING runs.id, runs.attempt)
             INSERT INTO outbox (run_id, attempt) SELECT id, attempt + 1 FROM u RETURNING run_id",
            &[&bounds.queued_after_s, &bounds.batch],
        )
        .await?;
    Ok(rows.len() as u64)
}

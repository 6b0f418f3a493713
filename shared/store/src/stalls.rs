//! Stuck runs: a RUNNING run whose newest event is older than the stall
//! bound gets a RUN_STALLED event, once per silence (a run that speaks again
//! and falls silent again gets another). Nothing else changes: not its
//! status, lease or heartbeat — the agent may be in a long build, and the
//! lease already tells a dead worker from a slow agent.
//!
//! The event is appended like every other (the run row's `last_seq`, in one
//! statement), so it interleaves safely with the worker's own events.

use crate::StoreError;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use uuid::Uuid;

/// Marks at most `batch` silent RUNNING runs; returns how many.
pub async fn mark(pool: &Pool, stall_after_s: f64, batch: i64) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    let n = client
        .execute(
            "WITH silent AS (
                 SELECT r.id, e.created_at AS last_event_at
                 FROM runs r JOIN events e ON e.run_id = r.id AND e.seq = r.last_seq
                 WHERE r.status = 'RUNNING'
                   AND e.kind <> 'RUN_STALLED'
                   AND e.created_at < clock_timestamp() - make_interval(secs => $1)
                 LIMIT $2
                 FOR UPDATE OF r SKIP LOCKED),
             marked AS (
                 UPDATE runs r SET last_seq = r.last_seq + 1
                 FROM silent s
                 WHERE r.id = s.id AND r.status = 'RUNNING'
                 RETURNING r.id, r.last_seq, r.attempt, s.last_event_at)
             INSERT INTO events (run_id, seq, attempt, kind, payload)
             SELECT id, last_seq, attempt, 'RUN_STALLED',
                    jsonb_build_object(
                        'last_event_at', last_event_at,
                        'silent_s', floor(extract(epoch FROM clock_timestamp() - last_event_at)))
             FROM marked",
            &[&stall_after_s, &batch],
        )
        .await?;
    Ok(n)
}

/// Since when the RUNNING run `id` has been silent, when its newest event is
/// a RUN_STALLED.
pub async fn stalled_since(pool: &Pool, id: Uuid) -> Result<Option<DateTime<Utc>>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT (e.payload->>'last_event_at')::timestamptz
             FROM runs r JOIN events e ON e.run_id = r.id AND e.seq = r.last_seq
             WHERE r.id = $1 AND r.status = 'RUNNING' AND e.kind = 'RUN_STALLED'",
            &[&id],
        )
        .await?;
    Ok(row.and_then(|r| r.get(0)))
}

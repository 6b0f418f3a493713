//! The writes of one attempt: its events, its ending and its retry hand-off.
//!
//! Every write here is fenced: it only applies while the run is RUNNING under
//! the same attempt number, so a stale attempt (a worker that lost its lease,
//! or a run cancelled meanwhile) can never overwrite a newer one. Each write is
//! one statement: the events it carries get dense `seq` numbers from the run
//! row the same statement updates, and an ending commits together with the
//! events the attempt had not written yet, so a reader never sees a terminal
//! run whose timeline is still missing a step.

use crate::StoreError;
use agent_runner_domain::{BranchSnapshot, EventKind};
use deadpool_postgres::Pool;
use serde_json::{Value, json};
use uuid::Uuid;

/// An event of an attempt not yet in the timeline, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Kind.
    pub kind: EventKind,
    /// Payload (a JSON object).
    pub payload: Value,
}

/// The kinds and payloads of `events` as two parallel arrays (`text[]`,
/// `jsonb[]`), which the statements unnest `WITH ORDINALITY`.
fn columns(events: &[NewEvent]) -> (Vec<&'static str>, Vec<&Value>) {
    events.iter().map(|e| (e.kind.as_str(), &e.payload)).unzip()
}

/// Appends `events` for `attempt` in one statement; `Ok(false)` when the
/// attempt was fenced out (then none is written).
pub async fn append_events(
    pool: &Pool,
    run_id: Uuid,
    attempt: i32,
    events: &[NewEvent],
) -> Result<bool, StoreError> {
    if events.is_empty() {
        return Ok(true);
    }
    let (kinds, payloads) = columns(events);
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "WITH r AS (UPDATE runs SET last_seq = last_seq + cardinality($3::text[])
                        WHERE id = $1 AND attempt = $2 AND status = 'RUNNING'
                        RETURNING id, last_seq, attempt)
             INSERT INTO events (run_id, seq, attempt, kind, payload)
             SELECT r.id, r.last_seq - cardinality($3::text[]) + e.ord::int, r.attempt,
                    e.kind, e.payload
             FROM r, unnest($3::text[], $4::jsonb[]) WITH ORDINALITY AS e(kind, payload, ord)",
        )
        .await?;
    let n = client
        .execute(&statement, &[&run_id, &attempt, &kinds, &payloads])
        .await?;
    Ok(n == events.len() as u64)
}

/// The terminal (or approval) state an attempt ends in.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// COMPLETED with the agent's result.
    Completed {
        /// Stored in `runs.result`.
        result: Value,
        /// Stored in `run_branches` (replacing an earlier attempt's).
        branch: Option<BranchSnapshot>,
    },
    /// AWAITING_APPROVAL with the agent's result.
    AwaitingApproval {
        /// Stored in `runs.result`.
        result: Value,
        /// Stored in `run_branches` (replacing an earlier attempt's).
        branch: Option<BranchSnapshot>,
    },
    /// FAILED with a reason.
    Failed {
        /// Stored in `runs.error`.
        error: String,
    },
    /// CANCELLED.
    Cancelled,
}

impl Ending {
    /// The run status this ending sets.
    pub fn status(&self) -> &'static str {
        match self {
            Ending::Completed { .. } => "COMPLETED",
            Ending::AwaitingApproval { .. } => "AWAITING_APPROVAL",
            Ending::Failed { .. } => "FAILED",
            Ending::Cancelled => "CANCELLED",
        }
    }

    fn event(&self, attempt: i32) -> (EventKind, Value) {
        match self {
            Ending::Completed { .. } => (EventKind::RunCompleted, json!({"attempt": attempt})),
            Ending::AwaitingApproval { .. } => {
                (EventKind::AwaitingApproval, json!({"attempt": attempt}))
            }
            Ending::Failed { error } => (
                EventKind::RunFailed,
                json!({"attempt": attempt, "error": error}),
            ),
            Ending::Cancelled => (
                EventKind::RunCancelled,
                json!({"attempt": attempt, "reason": "cancel requested"}),
            ),
        }
    }
}

/// Ends `attempt` of the run, writing `before` (the attempt's events not yet
/// in the timeline) and then the ending's event; `Ok(false)` when it was
/// fenced out. A branch snapshot is written in the same statement, so it
/// exists exactly when the ending does.
pub async fn finish(
    pool: &Pool,
    run_id: Uuid,
    attempt: i32,
    before: &[NewEvent],
    ending: &Ending,
) -> Result<bool, StoreError> {
    let (result, error) = match ending {
        Ending::Completed { result, .. } | Ending::AwaitingApproval { result, .. } => {
            (Some(result), None)
        }
        Ending::Failed { error } => (None, Some(error.as_str())),
        Ending::Cancelled => (None, None),
    };
    let branch = match ending {
        Ending::Completed { branch, .. } | Ending::AwaitingApproval { branch, .. } => {
            branch.as_ref()
        }
        Ending::Failed { .. } | Ending::Cancelled => None,
    };
    let (kind, payload) = ending.event(attempt);
    let (kinds, payloads) = columns(before);
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "WITH r AS (
                UPDATE runs SET status = $3, lease_until = NULL, finished_at = clock_timestamp(),
                       updated_at = clock_timestamp(), result = COALESCE($4, result),
                       error = COALESCE($5, error),
                       last_seq = last_seq + 1 + cardinality($12::text[])
                WHERE id = $1 AND attempt = $2 AND status = 'RUNNING'
                RETURNING id, last_seq, attempt),
                 b AS (
                    INSERT INTO run_branches (run_id, attempt, branch, start_commit, head_commit, bundle)
                    SELECT id, attempt, $8, $9, $10, $11 FROM r WHERE $11::bytea IS NOT NULL
                    ON CONFLICT (run_id) DO UPDATE SET
                        attempt = EXCLUDED.attempt, branch = EXCLUDED.branch,
                        start_commit = EXCLUDED.start_commit, head_commit = EXCLUDED.head_commit,
                        bundle = EXCLUDED.bundle, updated_at = clock_timestamp()),
                 p AS (
                    INSERT INTO events (run_id, seq, attempt, kind, payload)
                    SELECT r.id, r.last_seq - 1 - cardinality($12::text[]) + e.ord::int,
                           r.attempt, e.kind, e.payload
                    FROM r, unnest($12::text[], $13::jsonb[]) WITH ORDINALITY AS e(kind, payload, ord))
             INSERT INTO events (run_id, seq, attempt, kind, payload)
             SELECT id, last_seq, attempt, $6, $7 FROM r",
        )
        .await?;
    let n = client
        .execute(
            &statement,
            &[
                &run_id,
                &attempt,
                &ending.status(),
                &result,
                &error,
                &kind.as_str(),
                &payload,
                &branch.map(|b| b.branch.as_str()),
                &branch.map(|b| b.start_commit.as_str()),
                &branch.map(|b| b.head_commit.as_str()),
                &branch.map(|b| b.bundle.as_slice()),
                &kinds,
                &payloads,
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Why and when an attempt is handed over to the next one.
#[derive(Debug, Clone, Copy)]
pub struct Handoff<'a> {
    /// The failure (stored in `runs.error` and the RUN_RETRYING event).
    pub error: &'a str,
    /// How long the next attempt waits.
    pub delay_ms: i64,
    /// W3C trace context the next attempt continues.
    pub traceparent: Option<&'a str>,
}

/// Hands `attempt` over to a retry: `before` (the attempt's events not yet
/// in the timeline), RETRYING, a RUN_RETRYING event and an outbox row due in
/// `delay_ms` (the relay's safety net should the delayed publish fail), in
/// one statement; the row keeps the attempt's `traceparent`. Returns the
/// outbox row id, or `None` when fenced out.
pub async fn retry_handoff(
    pool: &Pool,
    run_id: Uuid,
    attempt: i32,
    before: &[NewEvent],
    handoff: Handoff<'_>,
) -> Result<Option<i64>, StoreError> {
    let (kinds, payloads) = columns(before);
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "WITH r AS (
                UPDATE runs SET status = 'RETRYING', lease_until = NULL, error = $3,
                       updated_at = clock_timestamp(),
                       last_seq = last_seq + 1 + cardinality($6::text[])
                WHERE id = $1 AND attempt = $2 AND status = 'RUNNING'
                RETURNING id, last_seq, attempt),
             p AS (
                INSERT INTO events (run_id, seq, attempt, kind, payload)
                SELECT r.id, r.last_seq - 1 - cardinality($6::text[]) + e.ord::int,
                       r.attempt, e.kind, e.payload
                FROM r, unnest($6::text[], $7::jsonb[]) WITH ORDINALITY AS e(kind, payload, ord)),
             e AS (
                INSERT INTO events (run_id, seq, attempt, kind, payload)
                SELECT id, last_seq, attempt, 'RUN_RETRYING',
                       jsonb_build_object('attempt', attempt, 'error', $3::text, 'delay_ms', $4::bigint)
                FROM r)
             INSERT INTO outbox (run_id, attempt, delay_ms, not_before, traceparent)
             SELECT id, attempt + 1, $4,
                    clock_timestamp() + make_interval(secs => $4::float8 / 1000) + interval '30 seconds',
                    $5
             FROM r RETURNING id",
        )
        .await?;
    let row = client
        .query_opt(
            &statement,
            &[
                &run_id,
                &attempt,
                &handoff.error,
                &handoff.delay_ms,
                &handoff.traceparent,
                &kinds,
                &payloads,
            ],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

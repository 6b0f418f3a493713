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
use agent_runner_domain::{BranchSnapshot, EventKind, RunStatus};
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

    pub(crate) fn event(&self, attempt: i32) -> (EventKind, Value) {
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
/// in the timeline) and then the ending's event. Returns the status the run
/// ended in, or `None` when the attempt was fenced out. A branch snapshot is
/// written in the same statement, so it exists exactly when the ending does.
///
/// A cancel request accepted while the attempt ran wins over its ending: the
/// run ends CANCELLED (with RUN_CANCELLED, and no result or snapshot) even
/// when the agent got to the end first, as the api promised the client.
pub async fn finish(
    pool: &Pool,
    run_id: Uuid,
    attempt: i32,
    before: &[NewEvent],
    ending: &Ending,
) -> Result<Option<RunStatus>, StoreError> {
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
                UPDATE runs SET
                       status = CASE WHEN cancel_requested THEN 'CANCELLED' ELSE $3 END,
                       lease_until = NULL, finished_at = clock_timestamp(),
                       updated_at = clock_timestamp(),
                       result = CASE WHEN cancel_requested THEN result ELSE COALESCE($4, result) END,
                       error = CASE WHEN cancel_requested THEN error ELSE COALESCE($5, error) END,
                       last_seq = last_seq + 1 + cardinality($12::text[])
                WHERE id = $1 AND attempt = $2 AND status = 'RUNNING'
                RETURNING id, last_seq, attempt, status, cancel_requested),
                 b AS (
                    INSERT INTO run_branches (run_id, attempt, branch, start_commit, head_commit, bundle)
                    SELECT id, attempt, $8, $9, $10, $11 FROM r
                    WHERE $11::bytea IS NOT NULL AND NOT cancel_requested
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
             SELECT id, last_seq, attempt,
                    CASE WHEN cancel_requested THEN 'RUN_CANCELLED' ELSE $6 END,
                    CASE WHEN cancel_requested
                         THEN jsonb_build_object('attempt', attempt, 'reason', 'cancel requested')
                         ELSE $7 END
             FROM r RETURNING (SELECT status FROM r)",
        )
        .await?;
    let row = client
        .query_opt(
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
    Ok(row.map(|row| status_of(&row)))
}

fn status_of(row: &tokio_postgres::Row) -> RunStatus {
    let status: String = row.get(0);
    // The CHECK constraint keeps unknown statuses out of the table.
    status.parse().unwrap_or(RunStatus::Failed)
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
    /// The attempt did not fail but was given back (its worker shut down):
    /// it does not use up one of the run's attempts, so `max_attempts` grows
    /// by one, as a retry from the api does.
    pub handed_back: bool,
}

/// What a hand-off did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandedOff {
    /// RETRYING; `outbox_id` is the row covering the next attempt's publish.
    Retrying {
        /// The outbox row.
        outbox_id: i64,
    },
    /// A cancel request accepted while the attempt ran: CANCELLED instead,
    /// with RUN_CANCELLED and nothing to publish.
    Cancelled,
}

/// Hands `attempt` over to a retry: `before` (the attempt's events not yet
/// in the timeline), RETRYING, a RUN_RETRYING event and an outbox row due in
/// `delay_ms` (the relay's safety net should the delayed publish fail), in
/// one statement; the row keeps the attempt's `traceparent`. A run whose
/// cancel was requested meanwhile ends CANCELLED instead. `None` when the
/// attempt was fenced out.
pub async fn retry_handoff(
    pool: &Pool,
    run_id: Uuid,
    attempt: i32,
    before: &[NewEvent],
    handoff: Handoff<'_>,
) -> Result<Option<HandedOff>, StoreError> {
    let (kinds, payloads) = columns(before);
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "WITH r AS (
                UPDATE runs SET
                       status = CASE WHEN cancel_requested THEN 'CANCELLED' ELSE 'RETRYING' END,
                       lease_until = NULL,
                       error = CASE WHEN cancel_requested THEN error ELSE $3 END,
                       finished_at = CASE WHEN cancel_requested THEN clock_timestamp() ELSE finished_at END,
                       max_attempts = max_attempts
                           + CASE WHEN $8 AND NOT cancel_requested THEN 1 ELSE 0 END,
                       updated_at = clock_timestamp(),
                       last_seq = last_seq + 1 + cardinality($6::text[])
                WHERE id = $1 AND attempt = $2 AND status = 'RUNNING'
                RETURNING id, last_seq, attempt, cancel_requested),
             p AS (
                INSERT INTO events (run_id, seq, attempt, kind, payload)
                SELECT r.id, r.last_seq - 1 - cardinality($6::text[]) + e.ord::int,
                       r.attempt, e.kind, e.payload
                FROM r, unnest($6::text[], $7::jsonb[]) WITH ORDINALITY AS e(kind, payload, ord)),
             e AS (
                INSERT INTO events (run_id, seq, attempt, kind, payload)
                SELECT id, last_seq, attempt,
                       CASE WHEN cancel_requested THEN 'RUN_CANCELLED' ELSE 'RUN_RETRYING' END,
                       CASE WHEN cancel_requested
                            THEN jsonb_build_object('attempt', attempt, 'reason', 'cancel requested')
                            WHEN $8 THEN jsonb_build_object('attempt', attempt, 'error', $3::text,
                                                            'delay_ms', $4::bigint, 'handed_back', true)
                            ELSE jsonb_build_object('attempt', attempt, 'error', $3::text,
                                                    'delay_ms', $4::bigint) END
                FROM r),
             o AS (
                INSERT INTO outbox (run_id, attempt, delay_ms, not_before, traceparent)
                SELECT id, attempt + 1, $4,
                       clock_timestamp() + make_interval(secs => $4::float8 / 1000) + interval '30 seconds',
                       $5
                FROM r WHERE NOT cancel_requested RETURNING id)
             SELECT o.id FROM r LEFT JOIN o ON true",
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
                &handoff.handed_back,
            ],
        )
        .await?;
    Ok(row.map(|row| match row.get::<_, Option<i64>>(0) {
        Some(outbox_id) => HandedOff::Retrying { outbox_id },
        None => HandedOff::Cancelled,
    }))
}

//! How a worker takes a run for an attempt, and the writes of that attempt.
//!
//! Every write here is fenced: it only applies while the run is RUNNING under
//! the same attempt number, so a stale attempt (a worker that lost its lease,
//! or a run cancelled meanwhile) can never overwrite a newer one. Terminal
//! transitions write their event in the same statement.

use crate::StoreError;
use crate::projects::{self, Project};
use crate::runs::{self, Run};
use agent_runner_domain::{BranchSnapshot, EventKind};
use deadpool_postgres::Pool;
use serde_json::{Value, json};
use uuid::Uuid;

/// What [`claim`] found.
#[derive(Debug, Clone)]
pub enum Claim {
    /// This worker now holds the run as `run.attempt`.
    Claimed {
        /// The run, as claimed.
        run: Box<Run>,
        /// Its project.
        project: Box<Project>,
    },
    /// The run is finished (or awaiting approval): drop the delivery.
    Finished,
    /// Another attempt holds a live lease: defer the delivery.
    LeaseLive,
    /// The run was cancelled before it could start again.
    Cancelled,
    /// No such run.
    NotFound,
}

/// Claims a run for a new attempt: QUEUED or RETRYING, or RUNNING with an
/// expired lease (its worker died). Writes RUN_STARTED in the same statement.
pub async fn claim(
    pool: &Pool,
    run_id: Uuid,
    worker_id: &str,
    lease_s: f64,
) -> Result<Claim, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!(
                "WITH r AS (
                    UPDATE runs SET status = 'RUNNING', attempt = attempt + 1, worker_id = $2,
                           lease_until = clock_timestamp() + make_interval(secs => $3),
                           started_at = COALESCE(started_at, clock_timestamp()),
                           last_seq = last_seq + 1, updated_at = clock_timestamp()
                    WHERE id = $1 AND NOT cancel_requested
                      AND (status IN ('QUEUED', 'RETRYING')
                           OR (status = 'RUNNING' AND lease_until < clock_timestamp()))
                    RETURNING *),
                 e AS (
                    INSERT INTO events (run_id, seq, attempt, kind, payload)
                    SELECT id, last_seq, attempt, 'RUN_STARTED',
                           jsonb_build_object('worker_id', $2::text, 'attempt', attempt)
                    FROM r)
                 SELECT {run_cols}, {project_cols}
                 FROM r JOIN projects p ON p.id = r.project_id",
                run_cols = prefixed(runs::COLUMNS, "r"),
                project_cols = prefixed(projects::COLUMNS, "p"),
            ),
            &[&run_id, &worker_id, &lease_s],
        )
        .await?;
    if let Some(row) = row {
        return Ok(Claim::Claimed {
            run: Box::new(Run::from_row_at(&row, 0)),
            project: Box::new(Project::from_row_at(&row, runs::COLUMN_COUNT)),
        });
    }
    let row = client
        .query_opt(
            "SELECT status, cancel_requested, lease_until > clock_timestamp() FROM runs WHERE id = $1",
            &[&run_id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Claim::NotFound);
    };
    let status: String = row.get(0);
    let cancel_requested: bool = row.get(1);
    let live: Option<bool> = row.get(2);
    Ok(match status.as_str() {
        "RUNNING" if live == Some(true) => Claim::LeaseLive,
        "RUNNING" | "QUEUED" | "RETRYING" if cancel_requested => {
            finish_orphaned_cancel(pool, run_id).await?;
            Claim::Cancelled
        }
        "RUNNING" => Claim::LeaseLive,
        _ => Claim::Finished,
    })
}

fn prefixed(columns: &str, table: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{table}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ends a run whose cancel was requested but whose worker is gone.
async fn finish_orphaned_cancel(pool: &Pool, run_id: Uuid) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client
        .execute(
            "WITH r AS (
                UPDATE runs SET status = 'CANCELLED', lease_until = NULL,
                       finished_at = clock_timestamp(), updated_at = clock_timestamp(),
                       last_seq = last_seq + 1
                WHERE id = $1 AND cancel_requested
                  AND status IN ('QUEUED', 'RETRYING', 'RUNNING')
                  AND (lease_until IS NULL OR lease_until < clock_timestamp())
                RETURNING id, last_seq, attempt)
             INSERT INTO events (run_id, seq, attempt, kind, payload)
             SELECT id, last_seq, attempt, 'RUN_CANCELLED', '{\"reason\": \"cancel requested\"}' FROM r",
            &[&run_id],
        )
        .await?;
    Ok(())
}

/// Appends an event for `attempt`; `Ok(false)` when the attempt was fenced out.
pub async fn append_event(
    pool: &Pool,
    run_id: Uuid,
    attempt: i32,
    kind: EventKind,
    payload: &Value,
) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let n = client
        .execute(
            "WITH r AS (UPDATE runs SET last_seq = last_seq + 1
                        WHERE id = $1 AND attempt = $2 AND status = 'RUNNING'
                        RETURNING id, last_seq, attempt)
             INSERT INTO events (run_id, seq, attempt, kind, payload)
             SELECT id, last_seq, attempt, $3, $4 FROM r",
            &[&run_id, &attempt, &kind.as_str(), payload],
        )
        .await?;
    Ok(n == 1)
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

/// Ends `attempt` of the run; `Ok(false)` when it was fenced out. A branch
/// snapshot is written in the same statement, so it exists exactly when the
/// ending does.
pub async fn finish(
    pool: &Pool,
    run_id: Uuid,
    attempt: i32,
    ending: &Ending,
) -> Result<bool, StoreError> {
    let (status, kind, result, error, payload) = match ending {
        Ending::Completed { result, .. } => (
            "COMPLETED",
            EventKind::RunCompleted,
            Some(result),
            None,
            json!({"attempt": attempt}),
        ),
        Ending::AwaitingApproval { result, .. } => (
            "AWAITING_APPROVAL",
            EventKind::AwaitingApproval,
            Some(result),
            None,
            json!({"attempt": attempt}),
        ),
        Ending::Failed { error } => (
            "FAILED",
            EventKind::RunFailed,
            None,
            Some(error.as_str()),
            json!({"attempt": attempt, "error": error}),
        ),
        Ending::Cancelled => (
            "CANCELLED",
            EventKind::RunCancelled,
            None,
            None,
            json!({"attempt": attempt, "reason": "cancel requested"}),
        ),
    };
    let branch = match ending {
        Ending::Completed { branch, .. } | Ending::AwaitingApproval { branch, .. } => {
            branch.as_ref()
        }
        Ending::Failed { .. } | Ending::Cancelled => None,
    };
    let client = pool.get().await?;
    let n = client
        .execute(
            "WITH r AS (
                UPDATE runs SET status = $3, lease_until = NULL, finished_at = clock_timestamp(),
                       updated_at = clock_timestamp(), result = COALESCE($4, result),
                       error = COALESCE($5, error), last_seq = last_seq + 1
                WHERE id = $1 AND attempt = $2 AND status = 'RUNNING'
                RETURNING id, last_seq, attempt),
                 b AS (
                    INSERT INTO run_branches (run_id, attempt, branch, start_commit, head_commit, bundle)
                    SELECT id, attempt, $8, $9, $10, $11 FROM r WHERE $11::bytea IS NOT NULL
                    ON CONFLICT (run_id) DO UPDATE SET
                        attempt = EXCLUDED.attempt, branch = EXCLUDED.branch,
                        start_commit = EXCLUDED.start_commit, head_commit = EXCLUDED.head_commit,
                        bundle = EXCLUDED.bundle, updated_at = clock_timestamp())
             INSERT INTO events (run_id, seq, attempt, kind, payload)
             SELECT id, last_seq, attempt, $6, $7 FROM r",
            &[
                &run_id,
                &attempt,
                &status,
                &result,
                &error,
                &kind.as_str(),
                &payload,
                &branch.map(|b| b.branch.as_str()),
                &branch.map(|b| b.start_commit.as_str()),
                &branch.map(|b| b.head_commit.as_str()),
                &branch.map(|b| b.bundle.as_slice()),
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Hands `attempt` over to a retry: RETRYING, a RUN_RETRYING event and an
/// outbox row due in `delay_ms` (the relay's safety net should the delayed
/// publish fail), in one transaction; the row keeps the attempt's
/// `traceparent`. Returns the outbox row id, or `None` when fenced out.
pub async fn retry_handoff(
    pool: &Pool,
    run_id: Uuid,
    attempt: i32,
    error: &str,
    delay_ms: i64,
    traceparent: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "WITH r AS (
                UPDATE runs SET status = 'RETRYING', lease_until = NULL, error = $3,
                       updated_at = clock_timestamp(), last_seq = last_seq + 1
                WHERE id = $1 AND attempt = $2 AND status = 'RUNNING'
                RETURNING id, last_seq, attempt),
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
            &[&run_id, &attempt, &error, &delay_ms, &traceparent],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// A run this worker holds, as seen by a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Run id.
    pub run_id: Uuid,
    /// Attempt.
    pub attempt: i32,
}

/// Result of renewing leases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renewal {
    /// Runs whose lease was extended and whose cancel was requested.
    pub cancel_requested: Vec<Uuid>,
    /// Runs this worker no longer holds (fenced out): stop them.
    pub lost: Vec<Uuid>,
}

/// Extends the leases of the runs `worker_id` holds, in one statement.
pub async fn renew_leases(
    pool: &Pool,
    worker_id: &str,
    held: &[Held],
    lease_s: f64,
) -> Result<Renewal, StoreError> {
    if held.is_empty() {
        return Ok(Renewal::default());
    }
    let ids: Vec<Uuid> = held.iter().map(|h| h.run_id).collect();
    let attempts: Vec<i32> = held.iter().map(|h| h.attempt).collect();
    let client = pool.get().await?;
    let rows = client
        .query(
            "UPDATE runs r SET lease_until = clock_timestamp() + make_interval(secs => $4)
             FROM unnest($2::uuid[], $3::int[]) AS h(id, attempt)
             WHERE r.id = h.id AND r.attempt = h.attempt AND r.status = 'RUNNING' AND r.worker_id = $1
             RETURNING r.id, r.cancel_requested",
            &[&worker_id, &ids, &attempts, &lease_s],
        )
        .await?;
    let mut renewal = Renewal::default();
    let kept: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    renewal.cancel_requested = rows
        .iter()
        .filter(|r| r.get::<_, bool>(1))
        .map(|r| r.get(0))
        .collect();
    renewal.lost = ids.into_iter().filter(|id| !kept.contains(id)).collect();
    Ok(renewal)
}

/// Whether a cancel was requested for the run (checked at claim time).
pub async fn cancel_requested(pool: &Pool, run_id: Uuid) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT cancel_requested FROM runs WHERE id = $1",
            &[&run_id],
        )
        .await?;
    Ok(row.map(|r| r.get(0)).unwrap_or(false))
}

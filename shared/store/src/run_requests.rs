//! Review and exec requests (`run_requests`): what the api asks the worker
//! holding a run's worktree to do, and that worker's answer.
//!
//! The api opens a request (PENDING) and publishes a control job to the
//! worker; the worker carries it out and closes it (DONE or FAILED) with
//! guarded updates, so a request is answered once. A review closes in the
//! same transaction as the run's move out of AWAITING_APPROVAL, and at most
//! one review per run is open at a time (a partial unique index), so two
//! reviewers can never both act.

use crate::StoreError;
use crate::events::insert_event;
use crate::runs::{COLUMNS, Run};
use agent_runner_domain::EventKind;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;
use serde_json::{Value, json};
use tokio_postgres::Row;
use uuid::Uuid;

/// An open review older than this is taken as lost (its worker never
/// answered) and no longer blocks a new one.
const REVIEW_EXPIRY_S: f64 = 600.0;
/// A worker silent for this long is gone: its PENDING requests are closed.
const WORKER_SILENT_S: f64 = 30.0;

/// Closes a run's PENDING requests that will never be answered: older than
/// [`REVIEW_EXPIRY_S`], or addressed to a worker that stopped or went silent.
const EXPIRE_ABANDONED: &str = "
    UPDATE run_requests r SET status = 'FAILED', finished_at = clock_timestamp(),
           error = CASE WHEN r.created_at < clock_timestamp() - make_interval(secs => $2)
                        THEN 'expired: the worker never answered'
                        ELSE 'worker `' || r.worker_id || '` stopped before it answered; ask again' END
    WHERE r.run_id = $1 AND r.status = 'PENDING'
      AND (r.created_at < clock_timestamp() - make_interval(secs => $2)
           OR NOT EXISTS (SELECT 1 FROM workers w
                          WHERE w.id = r.worker_id AND w.stopped_at IS NULL
                            AND w.last_heartbeat > clock_timestamp() - make_interval(secs => $3)))";

/// Closes the run's requests whose worker is gone or that are too old (see
/// [`EXPIRE_ABANDONED`]); returns how many.
pub async fn expire_abandoned(pool: &Pool, run_id: Uuid) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    Ok(client
        .execute(
            EXPIRE_ABANDONED,
            &[&run_id, &REVIEW_EXPIRY_S, &WORKER_SILENT_S],
        )
        .await?)
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RequestKind {
    /// Approve the run (merge or keep its branch).
    Approve,
    /// Reject the run (discard its branch).
    Reject,
    /// Run a command in the run's worktree.
    Exec,
}

impl RequestKind {
    /// The upper-case name stored in `run_requests.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Approve => "APPROVE",
            RequestKind::Reject => "REJECT",
            RequestKind::Exec => "EXEC",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "APPROVE" => RequestKind::Approve,
            "REJECT" => RequestKind::Reject,
            // The CHECK constraint keeps anything else out.
            _ => RequestKind::Exec,
        }
    }
}

/// A request row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRequest {
    /// Request id.
    pub id: Uuid,
    /// The run.
    pub run_id: Uuid,
    /// What is asked.
    pub kind: RequestKind,
    /// The worker asked (the one holding the run's worktree).
    pub worker_id: String,
    /// What the worker needs (merge target, command, timeout).
    pub params: Value,
    /// PENDING, DONE or FAILED.
    pub status: String,
    /// The worker's answer when DONE.
    pub result: Option<Value>,
    /// Why it FAILED.
    pub error: Option<String>,
    /// When the api opened it.
    pub created_at: DateTime<Utc>,
    /// When it was closed.
    pub finished_at: Option<DateTime<Utc>>,
}

const REQUEST_COLUMNS: &str =
    "id, run_id, kind, worker_id, params, status, result, error, created_at, finished_at";

impl RunRequest {
    fn from_row(row: &Row) -> Self {
        let kind: String = row.get(2);
        RunRequest {
            id: row.get(0),
            run_id: row.get(1),
            kind: RequestKind::parse(&kind),
            worker_id: row.get(3),
            params: row.get(4),
            status: row.get(5),
            result: row.get(6),
            error: row.get(7),
            created_at: row.get(8),
            finished_at: row.get(9),
        }
    }

    /// True once the worker answered (or the request was given up).
    pub fn is_closed(&self) -> bool {
        self.status != "PENDING"
    }
}

/// What [`open`] did.
#[derive(Debug, Clone)]
pub enum OpenOutcome {
    /// The request is PENDING; send it to `request.worker_id`.
    Opened(RunRequest),
    /// The run is not AWAITING_APPROVAL (or has no worker).
    WrongState(Run),
    /// Another review of the run is open.
    ReviewInProgress,
    /// No such run.
    NotFound,
}

/// Opens a request for a run that awaits approval, addressed to the worker
/// that ran it (read in the same statement), after closing the run's
/// abandoned requests.
pub async fn open(
    pool: &Pool,
    run_id: Uuid,
    kind: RequestKind,
    params: &Value,
) -> Result<OpenOutcome, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute(
        EXPIRE_ABANDONED,
        &[&run_id, &REVIEW_EXPIRY_S, &WORKER_SILENT_S],
    )
    .await?;
    let inserted = tx
        .query_opt(
            &format!(
                "INSERT INTO run_requests (id, run_id, kind, worker_id, params)
                 SELECT $1, id, $3, worker_id, $4 FROM runs
                 WHERE id = $2 AND status = 'AWAITING_APPROVAL' AND worker_id IS NOT NULL
                 RETURNING {REQUEST_COLUMNS}"
            ),
            &[&Uuid::now_v7(), &run_id, &kind.as_str(), params],
        )
        .await;
    let inserted = match inserted {
        Ok(row) => row,
        Err(err) => {
            return match StoreError::from(err) {
                StoreError::Conflict(_) => Ok(OpenOutcome::ReviewInProgress),
                other => Err(other),
            };
        }
    };
    if let Some(row) = inserted {
        tx.commit().await?;
        return Ok(OpenOutcome::Opened(RunRequest::from_row(&row)));
    }
    let row = tx
        .query_opt(
            &format!("SELECT {COLUMNS} FROM runs WHERE id = $1"),
            &[&run_id],
        )
        .await?;
    tx.commit().await?;
    Ok(match row {
        Some(row) => OpenOutcome::WrongState(Run::from_row(&row)),
        None => OpenOutcome::NotFound,
    })
}

/// Readdresses a PENDING request to another worker; `Ok(false)` when it is
/// no longer PENDING.
pub async fn reassign(pool: &Pool, id: Uuid, worker_id: &str) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let n = client
        .execute(
            "UPDATE run_requests SET worker_id = $2 WHERE id = $1 AND status = 'PENDING'",
            &[&id, &worker_id],
        )
        .await?;
    Ok(n == 1)
}

/// Reads one request of a run.
pub async fn get(pool: &Pool, run_id: Uuid, id: Uuid) -> Result<Option<RunRequest>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {REQUEST_COLUMNS} FROM run_requests WHERE id = $1 AND run_id = $2"),
            &[&id, &run_id],
        )
        .await?;
    Ok(row.as_ref().map(RunRequest::from_row))
}

/// Closes a PENDING request as FAILED; `false` when it was closed already.
pub async fn fail(pool: &Pool, id: Uuid, error: &str) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let n = client
        .execute(
            "UPDATE run_requests SET status = 'FAILED', error = $2, finished_at = clock_timestamp()
             WHERE id = $1 AND status = 'PENDING'",
            &[&id, &error],
        )
        .await?;
    Ok(n == 1)
}

/// Closes a PENDING request as DONE with `result`; `false` when it was
/// closed already.
pub async fn complete(pool: &Pool, id: Uuid, result: &Value) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let n = client
        .execute(
            "UPDATE run_requests SET status = 'DONE', result = $2, finished_at = clock_timestamp()
             WHERE id = $1 AND status = 'PENDING'",
            &[&id, result],
        )
        .await?;
    Ok(n == 1)
}

/// How a review ends the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// COMPLETED, with a RUN_COMPLETED event.
    Approved,
    /// REJECTED, with a RUN_REJECTED event.
    Rejected,
}

/// Moves the run out of AWAITING_APPROVAL as `verdict` says, records the
/// event and `review` (also merged into `runs.result` under `review`), and
/// closes the request DONE — one transaction. A rejection also deletes the
/// run's branch snapshot. Returns `false`, closing the
/// request FAILED instead, when the run is no longer AWAITING_APPROVAL.
pub async fn close_review(
    pool: &Pool,
    request_id: Uuid,
    run_id: Uuid,
    verdict: Verdict,
    review: &Value,
) -> Result<bool, StoreError> {
    let (status, kind) = match verdict {
        Verdict::Approved => ("COMPLETED", EventKind::RunCompleted),
        Verdict::Rejected => ("REJECTED", EventKind::RunRejected),
    };
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let moved = tx
        .execute(
            "UPDATE runs SET status = $2, finished_at = clock_timestamp(),
                    updated_at = clock_timestamp(),
                    result = COALESCE(result, '{}'::jsonb) || jsonb_build_object('review', $3::jsonb)
             WHERE id = $1 AND status = 'AWAITING_APPROVAL'",
            &[&run_id, &status, review],
        )
        .await?;
    if moved == 0 {
        tx.execute(
            "UPDATE run_requests SET status = 'FAILED', finished_at = clock_timestamp(),
                    error = 'the run is no longer AWAITING_APPROVAL'
             WHERE id = $1 AND status = 'PENDING'",
            &[&request_id],
        )
        .await?;
        tx.commit().await?;
        return Ok(false);
    }
    let mut payload = json!({"request_id": request_id});
    if let (Some(payload), Some(review)) = (payload.as_object_mut(), review.as_object()) {
        payload.extend(review.clone());
    }
    insert_event(&tx, run_id, kind, &payload).await?;
    if verdict == Verdict::Rejected {
        // The branch is discarded: so is its snapshot.
        tx.execute("DELETE FROM run_branches WHERE run_id = $1", &[&run_id])
            .await?;
    }
    tx.execute(
        "UPDATE run_requests SET status = 'DONE', result = $2, finished_at = clock_timestamp()
         WHERE id = $1 AND status = 'PENDING'",
        &[&request_id, review],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

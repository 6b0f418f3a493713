//! Hands a review or exec request to the worker that holds the run's
//! worktree, and waits a bounded time for its answer.
//!
//! Worktrees live on the disk of the worker that ran the run, so the request
//! goes to that worker's own queue (`<prefix>.worker.<worker id>`) through the
//! direct exchange, published mandatory: when the worker is gone nothing is
//! bound and the publish fails at once, which becomes a 409 naming the
//! worker. The worker records its answer in the request row; the api polls
//! that row until `REQUEST_WAIT_MS`, then leaves the client a URL to poll.

use crate::broker::PublishError;
use crate::error::ApiError;
use crate::state::AppState;
use agent_runner_domain::JobMessage;
use agent_runner_queue::{JobProperties, QueueError};
use agent_runner_store::requests::{self, RequestKind, RunRequest};
use std::time::Duration;
use tokio::time::Instant;

/// How often the request row is read while waiting.
const POLL: Duration = Duration::from_millis(50);

/// Where a dispatched request stands when the api stops waiting.
#[derive(Debug)]
pub enum Dispatched {
    /// The worker answered (DONE or FAILED).
    Answered(RunRequest),
    /// Still PENDING after `REQUEST_WAIT_MS`.
    Pending(RunRequest),
}

/// Publishes `request` to its worker and waits for the answer.
pub async fn send_and_wait(state: &AppState, request: RunRequest) -> Result<Dispatched, ApiError> {
    let msg = match request.kind {
        RequestKind::Approve | RequestKind::Reject => JobMessage::ReviewRun {
            run_id: request.run_id,
            request_id: request.id,
        },
        RequestKind::Exec => JobMessage::ExecInRun {
            run_id: request.run_id,
            request_id: request.id,
        },
    };
    let props = JobProperties {
        attempt: 0,
        project_id: None,
        reason: None,
        traceparent: None,
    };
    if let Err(err) = state
        .broker
        .publish_to_worker(&msg, &props, &request.worker_id)
        .await
    {
        let gone = matches!(err, PublishError::Queue(QueueError::Unroutable(_)));
        let why = if gone {
            format!(
                "worker `{}` holds this run's worktree and is not connected",
                request.worker_id
            )
        } else {
            format!("could not reach worker `{}`: {err}", request.worker_id)
        };
        requests::fail(&state.pool, request.id, &why).await?;
        return Err(if gone {
            ApiError::Conflict(format!(
                "{why}; the worktree is only on that worker's disk (start it again with the same WORKER_ID and WORKSPACE_ROOT)"
            ))
        } else {
            ApiError::Unavailable(why)
        });
    }
    tracing::info!(run.id = %request.run_id, request.id = %request.id, worker.id = %request.worker_id,
        request.kind = request.kind.as_str(), "request sent to the run's worker");
    let deadline = Instant::now() + Duration::from_millis(state.config.request_wait_ms);
    loop {
        let current = requests::get(&state.pool, request.run_id, request.id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no request `{}`", request.id)))?;
        if current.is_closed() {
            return Ok(Dispatched::Answered(current));
        }
        if Instant::now() >= deadline {
            return Ok(Dispatched::Pending(current));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Where a client polls a request.
pub fn request_url(request: &RunRequest) -> String {
    format!("/v1/runs/{}/requests/{}", request.run_id, request.id)
}

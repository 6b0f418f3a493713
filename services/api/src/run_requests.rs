//! Hands a review or exec request to a worker, and waits a bounded time for
//! its answer.
//!
//! The request goes to the worker that ran the run — its disk holds the
//! worktree — through its own queue (`<prefix>.worker.<worker id>`) on the
//! direct exchange, published mandatory: when that worker is gone nothing is
//! bound and the publish fails at once. The request is then readdressed to
//! another live worker, which puts the run's branch back from its snapshot in
//! Postgres. The worker records its answer in the request row; the api polls
//! that row until `REQUEST_WAIT_MS`, then leaves the client a URL to poll.

use crate::background::broker::PublishError;
use crate::http::error::ApiError;
use crate::routes::workers::STALE_AFTER_S;
use crate::state::AppState;
use agent_runner_domain::JobMessage;
use agent_runner_queue::{JobProperties, QueueError};
use agent_runner_store::run_requests::{self, RequestKind, RunRequest};
use agent_runner_store::workers;
use agent_runner_telemetry::TraceParent;
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

/// Publishes `request` to its worker (or, when that one is gone, to another
/// live worker) and waits for the answer; `trace` travels in the message.
pub async fn send_and_wait(
    state: &AppState,
    request: RunRequest,
    trace: &TraceParent,
) -> Result<Dispatched, ApiError> {
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
        traceparent: Some(trace.to_header()),
    };
    let worker_id = deliver(state, &request, &msg, &props).await?;
    tracing::info!(run.id = %request.run_id, request.id = %request.id, worker.id = %worker_id,
        request.kind = request.kind.as_str(), "request sent to a worker");
    let deadline = Instant::now() + Duration::from_millis(state.config.request_wait_ms);
    loop {
        let current = run_requests::get(&state.pool, request.run_id, request.id)
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

/// Publishes to the run's worker, else to the other live workers in turn;
/// returns the worker that took the message. Closes the request FAILED when
/// none did.
async fn deliver(
    state: &AppState,
    request: &RunRequest,
    msg: &JobMessage,
    props: &JobProperties,
) -> Result<String, ApiError> {
    let holder = &request.worker_id;
    if publish(state, request, msg, props, holder).await? {
        return Ok(holder.clone());
    }
    let live = workers::list_live(&state.pool, STALE_AFTER_S).await?;
    for worker in live.into_iter().filter(|w| w.id != *holder) {
        if !run_requests::reassign(&state.pool, request.id, &worker.id).await? {
            return Err(ApiError::Conflict(
                "the request was closed before it reached a worker".into(),
            ));
        }
        if publish(state, request, msg, props, &worker.id).await? {
            tracing::info!(run.id = %request.run_id, request.id = %request.id,
                worker.id = %worker.id, gone = %holder,
                "the run's worker is gone; another worker takes the request");
            return Ok(worker.id);
        }
    }
    let why =
        format!("no worker is connected to take the request (the run's worker `{holder}` is gone)");
    run_requests::fail(&state.pool, request.id, &why).await?;
    Err(ApiError::NoWorker(why))
}

/// Publishes to one worker's queue: `Ok(false)` when it is not connected.
async fn publish(
    state: &AppState,
    request: &RunRequest,
    msg: &JobMessage,
    props: &JobProperties,
    worker_id: &str,
) -> Result<bool, ApiError> {
    match state.broker.publish_to_worker(msg, props, worker_id).await {
        Ok(()) => Ok(true),
        Err(PublishError::Queue(QueueError::Unroutable(_))) => Ok(false),
        Err(err) => {
            let why = format!("could not reach worker `{worker_id}`: {err}");
            run_requests::fail(&state.pool, request.id, &why).await?;
            Err(ApiError::Unavailable(why))
        }
    }
}

/// Where a client polls a request.
pub fn request_url(request: &RunRequest) -> String {
    format!("/v1/runs/{}/requests/{}", request.run_id, request.id)
}

//! The fast path: right after a request commits a run's outbox row, it
//! publishes the job itself and hands the row to [`super::sent_marks`];
//! whatever fails is left to [`super::relay`], as the run is committed
//! either way.

use crate::http::request_trace::RequestTrace;
use crate::state::AppState;
use agent_runner_domain::JobMessage;
use agent_runner_queue::JobProperties;
use agent_runner_store::runs::Run;

/// Publishes the job for a freshly committed outbox row and marks it sent.
/// Any failure is left to the relay: the run is committed either way.
pub async fn publish(state: &AppState, run: &Run, outbox_id: i64, trace: &RequestTrace) {
    let msg = JobMessage::ExecuteRun { run_id: run.id };
    let props = JobProperties {
        attempt: run.attempt + 1,
        project_id: Some(run.project_id),
        reason: None,
        traceparent: Some(trace.0.to_header()),
    };
    match state.broker.publish_job(&msg, &props).await {
        Ok(()) => state.sent.mark(outbox_id),
        Err(err) => {
            tracing::warn!(run.id = %run.id, error = %err, "publish deferred to the outbox relay");
            state.relay.wake();
        }
    }
}

//! The fast path: right after a request commits a run's outbox row, it
//! publishes the job itself and hands the row to [`super::sent_marks`];
//! whatever fails is left to [`super::relay`], as the run is committed
//! either way.

use super::relay::RelayWaker;
use super::sent_marks::SentMarks;
use crate::background::broker::Broker;
use crate::http::request_trace::RequestTrace;
use crate::state::AppState;
use agent_runner_domain::JobMessage;
use agent_runner_queue::JobProperties;
use agent_runner_store::outbox::Pending;
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

/// Publishes the jobs of outbox rows written outside a request (parked runs
/// woken by the scheduler) and marks them sent; the rest is left to the relay.
pub async fn publish_pending(
    broker: &Broker,
    sent: &SentMarks,
    relay: &RelayWaker,
    pending: Vec<Pending>,
) {
    for row in pending {
        let msg = JobMessage::ExecuteRun { run_id: row.run_id };
        let props = JobProperties {
            attempt: row.attempt,
            project_id: Some(row.project_id),
            reason: None,
            traceparent: row.traceparent.clone(),
        };
        match broker.publish_job(&msg, &props).await {
            Ok(()) => sent.mark(row.id),
            Err(err) => {
                tracing::warn!(run.id = %row.run_id, error = %err, "publish deferred to the outbox relay");
                relay.wake();
                return;
            }
        }
    }
}

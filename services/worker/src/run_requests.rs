//! Control jobs addressed to this worker: review (approve/reject) and exec
//! requests on the runs it ran (or on runs whose worker is gone), delivered
//! through its own queue `<prefix>.worker.<worker id>`, with the trace
//! context of the api request that asked for them.
//!
//! Each delivery names a `run_requests` row; the worker carries it out (see
//! [`review`](crate::review)), records the answer and only then acks. A
//! request already closed (answered, given up) is acked and dropped, so a
//! duplicate delivery never acts twice.

use crate::db_retry::with_db_retry;
use crate::delivery::received_trace;
use crate::review::Reviewer;
use agent_runner_domain::JobMessage;
use agent_runner_queue::acks::{ack, nack_requeue};
use agent_runner_queue::lapin::message::Delivery;
use agent_runner_store::run_requests;
use agent_runner_telemetry::spans;
use tracing::Instrument;

/// Handles deliveries of the worker's own queue.
#[derive(Clone)]
pub struct RunRequestHandler {
    /// Carries the requests out.
    pub reviewer: Reviewer,
}

impl RunRequestHandler {
    /// Handles one control delivery to its ack.
    pub async fn handle(&self, delivery: Delivery) {
        let (run_id, request_id) = match JobMessage::from_bytes(&delivery.data) {
            Ok(msg @ (JobMessage::ReviewRun { .. } | JobMessage::ExecInRun { .. })) => {
                (msg.run_id(), msg.request_id().unwrap_or_default())
            }
            Ok(other) => {
                tracing::warn!(
                    job.kind = other.type_name(),
                    "dropping a job that is not a control job"
                );
                ack(&delivery).await;
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "dropping a malformed control job");
                ack(&delivery).await;
                return;
            }
        };
        let span = tracing::info_span!(
            "control",
            run.id = %run_id,
            request.id = %request_id,
            worker.id = %self.reviewer.worker_id,
            trace_id = tracing::field::Empty,
        );
        // The trace of the api request that asked for this.
        let trace = spans::continue_trace(&span, received_trace(&delivery).as_ref());
        span.record("trace_id", tracing::field::display(trace.trace_id()));
        self.carry_out(&delivery, run_id, request_id)
            .instrument(span)
            .await;
    }

    async fn carry_out(&self, delivery: &Delivery, run_id: uuid::Uuid, request_id: uuid::Uuid) {
        let pool = &self.reviewer.pool;
        let request = match with_db_retry(|| run_requests::get(pool, run_id, request_id)).await {
            Ok(Some(request)) if !request.is_closed() => request,
            Ok(_) => {
                tracing::debug!("request already closed or unknown; dropping");
                ack(delivery).await;
                return;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot read the request; requeueing");
                nack_requeue(delivery).await;
                return;
            }
        };
        match self.reviewer.carry_out(&request).await {
            Ok(()) => ack(delivery).await,
            Err(err) => {
                tracing::error!(error = %err, "cannot record the answer; requeueing");
                nack_requeue(delivery).await;
            }
        }
    }
}

//! What happens to one delivery, from parse to ack.
//!
//! The delivery stays unacked while the run executes; it is acked only after
//! the terminal status (or the retry hand-off) is committed, so a worker
//! crash means redelivery, never a lost run.

use crate::db_retry::with_db_retry;
use crate::dead_letter::DeadLetterReason;
use crate::execution::{Disposition, Executor};
use crate::state::WorkerState;
use crate::wakes;
use agent_runner_domain::JobMessage;
use agent_runner_queue::acks::{ack, nack_requeue};
use agent_runner_queue::lapin::message::Delivery;
use agent_runner_queue::{JobProperties, Publisher};
use agent_runner_store::claim::Claim;
use agent_runner_store::outbox;
use agent_runner_telemetry::{TraceParent, spans};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Shared pieces a delivery handler needs.
#[derive(Clone)]
pub struct Handler {
    /// Pool, metrics, retry tiers.
    pub state: WorkerState,
    /// Executes attempts.
    pub executor: Executor,
    /// Publishes retries and dead letters.
    pub publisher: Publisher,
    /// This worker's id.
    pub worker_id: String,
    /// Lease length in seconds.
    pub lease_s: f64,
}

impl Handler {
    /// Handles one delivery to the end (ack, nack or dead-letter).
    pub async fn handle(&self, delivery: Delivery) {
        let msg = match JobMessage::from_bytes(&delivery.data) {
            Ok(msg) => msg,
            Err(err) => {
                tracing::warn!(error = %err, "dead-lettering a malformed message");
                let reason = DeadLetterReason::Malformed(err.to_string());
                self.dead_letter_and_ack(&delivery, None, 0, &reason).await;
                return;
            }
        };
        if !matches!(msg, JobMessage::ExecuteRun { .. }) {
            let reason = DeadLetterReason::Misrouted(msg.type_name());
            tracing::warn!(
                reason = %reason,
                "dead-lettering a control job found on the work queue"
            );
            self.dead_letter_and_ack(&delivery, Some(msg.run_id()), 0, &reason)
                .await;
            return;
        }
        let run_id = msg.run_id();
        let span = tracing::info_span!(
            "delivery",
            run.id = %run_id,
            worker.id = %self.worker_id,
            attempt = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        );
        // The api's (or the previous attempt's) trace, continued here.
        let trace = spans::continue_trace(&span, received_trace(&delivery).as_ref());
        span.record("trace_id", tracing::field::display(trace.trace_id()));
        self.handle_run(delivery, msg, trace).instrument(span).await;
    }

    async fn handle_run(&self, delivery: Delivery, msg: JobMessage, trace: TraceParent) {
        let run_id = msg.run_id();
        let claim_began = Instant::now();
        let claimed = with_db_retry(|| self.state.writes.claim(run_id)).await;
        let (run, project, messages, limited) = match claimed {
            Ok(Claim::Claimed {
                run,
                project,
                messages,
                limited,
            }) => (run, project, messages, limited),
            Ok(Claim::Parked { reason, woken }) => {
                tracing::debug!(
                    reason = reason.as_str(),
                    "its project has no free slot; the run waits parked"
                );
                self.state.metrics.parked(reason.as_str());
                ack(&delivery).await;
                wakes::publish(&self.state.pool, &self.publisher, woken).await;
                return;
            }
            Ok(Claim::OverBudget(error)) => {
                tracing::info!(%error, "run failed: it would start over its project's budget");
                ack(&delivery).await;
                return;
            }
            Ok(Claim::Finished) | Ok(Claim::Cancelled) => {
                tracing::debug!("run already finished; dropping the duplicate delivery");
                ack(&delivery).await;
                return;
            }
            Ok(Claim::LeaseLive) => {
                self.defer(&delivery, &msg).await;
                return;
            }
            Ok(Claim::NotFound) => {
                let reason = DeadLetterReason::UnknownRun;
                self.dead_letter_and_ack(&delivery, Some(run_id), 0, &reason)
                    .await;
                return;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot claim; requeueing the delivery");
                nack_requeue(&delivery).await;
                return;
            }
        };
        let attempt = run.attempt;
        tracing::Span::current().record("attempt", attempt);
        let disposition = if attempt > run.max_attempts {
            // Earlier attempts were lost with their workers (crash loops).
            self.executor.end_lost(&run).await
        } else {
            tracing::info!(run.agent = %run.agent, "run claimed");
            self.executor
                .execute(&run, &project, messages, &trace, claim_began)
                .await
        };
        match disposition {
            Disposition::Ack => ack(&delivery).await,
            Disposition::DeadLetter(reason) => {
                self.dead_letter_and_ack(&delivery, Some(run_id), attempt, &reason)
                    .await;
            }
            Disposition::Delay {
                delay_ms,
                outbox_id,
                next_attempt,
            } => {
                let props = JobProperties {
                    attempt: next_attempt,
                    project_id: Some(run.project_id),
                    reason: None,
                    traceparent: Some(trace.to_header()),
                };
                match self.publisher.publish_delayed(&msg, &props, delay_ms).await {
                    Ok(()) => self.mark_published(outbox_id, "retry").await,
                    Err(err) => {
                        tracing::warn!(error = %err, "delayed publish failed; the outbox relay will re-deliver");
                    }
                }
                ack(&delivery).await;
            }
            Disposition::Requeue => nack_requeue(&delivery).await,
            Disposition::HandBack { outbox_id } => {
                nack_requeue(&delivery).await;
                self.mark_published(outbox_id, "hand-back").await;
            }
        }
        if limited {
            wakes::after_ending(&self.state.pool, &self.publisher, run.project_id).await;
        }
    }

    /// Marks the outbox row a message this worker put on the queue stands
    /// for as sent: the only place the worker does. Should that fail, the
    /// relay publishes the row again, which the claim makes harmless.
    async fn mark_published(&self, outbox_id: i64, what: &str) {
        if let Err(err) = outbox::mark_sent(&self.state.pool, outbox_id).await {
            tracing::warn!(error = %err, what, "could not mark the message published; the relay may repeat it");
        }
    }

    /// Another attempt holds a live lease: wait in the shortest retry tier
    /// that outlasts the lease, then look again.
    async fn defer(&self, delivery: &Delivery, msg: &JobMessage) {
        let wait = Duration::from_secs_f64(self.lease_s / 2.0);
        let delay_ms = self.state.tiers.nearest(wait);
        let received = JobProperties::from_delivery(delivery);
        let props = JobProperties {
            reason: None,
            traceparent: received_trace(delivery).map(|t| t.to_header()),
            ..received
        };
        match self.publisher.publish_delayed(msg, &props, delay_ms).await {
            Ok(()) => {
                tracing::debug!(delay_ms, "lease is live elsewhere; deferred the delivery");
                ack(delivery).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot defer; requeueing");
                tokio::time::sleep(Duration::from_secs(1)).await;
                nack_requeue(delivery).await;
            }
        }
    }

    async fn dead_letter_and_ack(
        &self,
        delivery: &Delivery,
        run_id: Option<uuid::Uuid>,
        attempt: i32,
        reason: &DeadLetterReason,
    ) {
        let received = JobProperties::from_delivery(delivery);
        let props = JobProperties {
            attempt: if attempt > 0 {
                attempt
            } else {
                received.attempt
            },
            project_id: received.project_id,
            reason: Some(reason.to_string()),
            traceparent: received_trace(delivery).map(|t| t.to_header()),
        };
        match self
            .publisher
            .publish_dead(&delivery.data, run_id, &props)
            .await
        {
            Ok(()) => {
                self.state
                    .metrics
                    .dead_lettered
                    .with_label_values(&[reason.label()])
                    .inc();
                ack(delivery).await;
            }
            Err(err) => {
                // Leave it to redelivery; the quorum queue's delivery limit
                // dead-letters it should this keep failing.
                tracing::error!(error = %err, reason = %reason, "cannot dead-letter; requeueing");
                tokio::time::sleep(Duration::from_secs(1)).await;
                nack_requeue(delivery).await;
            }
        }
    }
}

/// The `traceparent` header of a delivery, if it carries a valid one.
pub(crate) fn received_trace(delivery: &Delivery) -> Option<TraceParent> {
    JobProperties::from_delivery(delivery)
        .traceparent
        .and_then(|header| TraceParent::parse(&header))
}

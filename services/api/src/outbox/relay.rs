//! The outbox relay: publishes outbox rows that the request path could not
//! (broker down, api crashed between commit and publish) and retry hand-offs
//! whose delayed publish was lost. Woken at once when a fast-path publish
//! fails, and otherwise polls every `RELAY_INTERVAL_MS`. Rows are claimed with
//! `FOR UPDATE SKIP LOCKED`, so api replicas share the work. Each relayed row
//! gets an `outbox.relay` span in the trace the row stored, and the job
//! carries that span's context.

use crate::background::broker::Broker;
use agent_runner_domain::JobMessage;
use agent_runner_queue::JobProperties;
use agent_runner_store::{Pool, outbox};
use agent_runner_telemetry::{TraceParent, spans};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Rows newer than this are left to the request that wrote them.
const FAST_PATH_GRACE_MS: i64 = 2000;
/// Rows claimed per round.
const BATCH: i64 = 200;

/// Wakes the relay before its next poll.
#[derive(Clone, Default)]
pub struct RelayWaker(Arc<Notify>);

impl RelayWaker {
    /// Asks the relay to look for unsent rows now.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Runs the relay until `shutdown` fires.
pub async fn run(
    pool: Pool,
    broker: Broker,
    waker: RelayWaker,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = waker.0.notified() => {
                // Let the fast-path grace elapse so the row is due.
                tokio::time::sleep(Duration::from_millis(FAST_PATH_GRACE_MS as u64)).await;
            }
            () = tokio::time::sleep(interval) => {}
        }
        if !broker.is_connected() {
            continue;
        }
        loop {
            let published = outbox::relay_batch(&pool, BATCH, FAST_PATH_GRACE_MS, |pending| {
                let broker = broker.clone();
                async move {
                    // One span per relayed row, in the trace the row stored.
                    let span = tracing::info_span!(
                        "outbox.relay",
                        run.id = %pending.run_id,
                        attempt = pending.attempt,
                    );
                    let stored = pending.traceparent.as_deref().and_then(TraceParent::parse);
                    let trace = spans::continue_trace(&span, stored.as_ref());
                    let msg = JobMessage::ExecuteRun {
                        run_id: pending.run_id,
                    };
                    let props = JobProperties {
                        attempt: pending.attempt,
                        project_id: Some(pending.project_id),
                        reason: None,
                        traceparent: Some(trace.to_header()),
                    };
                    broker.publish_job(&msg, &props).instrument(span).await
                }
            })
            .await;
            match published {
                Ok(0) => break,
                Ok(n) => tracing::info!(outbox.published = n, "relayed outbox rows"),
                Err(err) => {
                    tracing::warn!(error = %err, "outbox relay round failed");
                    break;
                }
            }
        }
        ticks += 1;
        if ticks.is_multiple_of(600)
            && let Err(err) = outbox::purge_sent(&pool, 3600).await
        {
            tracing::warn!(error = %err, "outbox purge failed");
        }
    }
}

//! The reaper: every `REAPER_INTERVAL_MS` it hands orphaned runs (RUNNING,
//! lease expired past `REAPER_LEASE_GRACE_S`, no delivery left to bring them
//! back) to a new attempt, and publishes again QUEUED or RETRYING runs that
//! waited `REAPER_QUEUED_AFTER_S` after their publish without starting. The
//! queries are guarded and skip locked rows, so api replicas can all run it.

use crate::outbox::relay::RelayWaker;
use agent_runner_store::reaper::{self, Bounds};
use agent_runner_store::{Pool, StoreError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs the reaper until `shutdown` fires.
pub async fn run(
    pool: Pool,
    bounds: Bounds,
    interval: Duration,
    relay: RelayWaker,
    shutdown: CancellationToken,
) {
    let mut unavailable = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        match reaper::reap(&pool, bounds).await {
            Ok(reaped) => {
                unavailable = false;
                if reaped.any() {
                    tracing::warn!(
                        reaper.requeued = reaped.requeued,
                        reaper.failed = reaped.failed,
                        reaper.cancelled = reaped.cancelled,
                        reaper.republished = reaped.republished,
                        "reaped runs that no delivery would bring back"
                    );
                }
                if reaped.wrote_outbox() {
                    relay.wake();
                }
            }
            // An outage is reported once, not every interval.
            Err(StoreError::Unavailable(err)) if !unavailable => {
                unavailable = true;
                tracing::warn!(error = %err, "reaper paused: database unavailable");
            }
            Err(StoreError::Unavailable(_)) => {}
            Err(err) => tracing::warn!(error = %err, "reaper pass failed"),
        }
    }
}

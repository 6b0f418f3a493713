//! The reaper: every `REAPER_INTERVAL_MS` it hands orphaned runs (RUNNING,
//! lease expired past `REAPER_LEASE_GRACE_S`, no delivery left to bring them
//! back) to a new attempt, and publishes again QUEUED or RETRYING runs that
//! waited `REAPER_QUEUED_AFTER_S` after their publish without starting; and
//! it marks RUNNING runs silent for `STALL_AFTER_S` with RUN_STALLED
//! ([`agent_runner_store::stalls`]). The queries are guarded and skip locked
//! rows, so api replicas can all run it.

use crate::outbox::relay::RelayWaker;
use agent_runner_store::reaper::{self, Bounds};
use agent_runner_store::{Pool, StoreError, stalls};
use prometheus::IntCounter;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// When a RUNNING run counts as stalled, and the counter of those marked.
pub struct Stalls {
    /// Seconds without an event.
    pub after_s: f64,
    /// `agent_runner_runs_stalled_total`.
    pub marked: IntCounter,
}

/// Runs the reaper until `shutdown` fires.
pub async fn run(
    pool: Pool,
    bounds: Bounds,
    stalled: Stalls,
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
        match stalls::mark(&pool, stalled.after_s, bounds.batch).await {
            Ok(0) => {}
            // An outage is reported by the reaper's own pass below.
            Err(StoreError::Unavailable(_)) => {}
            Err(err) => tracing::warn!(error = %err, "marking stalled runs failed"),
            Ok(n) => {
                stalled.marked.inc_by(n);
                tracing::warn!(
                    runs = n,
                    after_s = stalled.after_s,
                    "running runs silent too long: RUN_STALLED"
                );
            }
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

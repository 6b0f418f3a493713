//! Every `HEARTBEAT_S`: renew the leases of the runs in flight (one
//! statement), stop the ones this worker lost or whose cancel was requested,
//! and update the `workers` row.

use crate::inflight::{InFlight, StopReason};
use agent_runner_store::{Pool, claim, workers};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs until `shutdown` fires.
pub async fn run(
    pool: Pool,
    worker_id: String,
    inflight: InFlight,
    every: Duration,
    lease_s: f64,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        beat(&pool, &worker_id, &inflight, lease_s).await;
    }
}

/// One heartbeat.
pub async fn beat(pool: &Pool, worker_id: &str, inflight: &InFlight, lease_s: f64) {
    match claim::renew_leases(pool, worker_id, &inflight.held(), lease_s).await {
        Ok(renewal) => {
            // A run that ended between the snapshot and the renewal is gone
            // from `inflight` by now; only ones still executing were lost.
            for run_id in renewal.lost {
                if inflight.stop(run_id, StopReason::Lost) {
                    tracing::warn!(run.id = %run_id, "lost the run to another attempt; stopping it");
                }
            }
            for run_id in renewal.cancel_requested {
                inflight.stop(run_id, StopReason::CancelRequested);
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot renew leases"),
    }
    let in_flight = i32::try_from(inflight.len()).unwrap_or(i32::MAX);
    if let Err(err) = workers::heartbeat(pool, worker_id, in_flight).await {
        tracing::warn!(error = %err, "cannot record the heartbeat");
    }
}

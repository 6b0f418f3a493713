//! Every `HEARTBEAT_S`: renew the worker's lease on its `workers` row (which
//! keeps every run it holds alive), look at the runs in flight (one
//! statement, renewing the run leases that are due), and stop the ones this
//! worker lost or whose cancel was requested.

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
    leases: Leases,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        beat(&pool, &worker_id, &inflight, leases).await;
    }
}

/// The lease lengths a heartbeat renews, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Leases {
    /// The worker's (`LEASE_S`).
    pub worker_s: f64,
    /// Each run's (`RUN_LEASE_S`).
    pub run_s: f64,
}

/// One heartbeat.
pub async fn beat(pool: &Pool, worker_id: &str, inflight: &InFlight, leases: Leases) {
    // The worker's lease first: it is what keeps the runs alive.
    let in_flight = i32::try_from(inflight.len()).unwrap_or(i32::MAX);
    if let Err(err) = workers::heartbeat(pool, worker_id, in_flight, leases.worker_s).await {
        tracing::warn!(error = %err, "cannot record the heartbeat");
    }
    match claim::renew_leases(pool, worker_id, &inflight.held(), leases.run_s).await {
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
}

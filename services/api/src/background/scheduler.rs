//! The scheduler: every `SCHEDULER_INTERVAL_MS` it writes the api's default
//! project limit (`DEFAULT_MAX_CONCURRENT_RUNS`) for the workers' admission,
//! recomputes the fair shares of contending projects
//! ([`agent_runner_store::fair_share`]) and wakes parked runs whose project
//! has a free slot ([`agent_runner_store::admission::wake`]). Workers wake
//! runs themselves when an ending frees a slot; this pass is what wakes them
//! when a share grows or ends, a limit is raised, or a wake was lost with a
//! crashed worker. Every step is guarded by the project's lock, so api
//! replicas can all run it. With `FAIR_SHARE=false` it removes the shares
//! instead of computing them (contending projects are then served first
//! come, first served) and does the rest as before.

use crate::background::broker::Broker;
use crate::outbox::fast_path;
use crate::outbox::relay::RelayWaker;
use crate::outbox::sent_marks::SentMarks;
use agent_runner_store::{Pool, StoreError, admission, fair_share};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the scheduler needs.
pub struct Scheduler {
    /// The database.
    pub pool: Pool,
    /// `DEFAULT_MAX_CONCURRENT_RUNS` (0: none).
    pub default_limit: u32,
    /// `FAIR_SHARE`: whether contending projects are held to their share.
    pub fair_share: bool,
    /// How long a worker may be silent and still count its slots.
    pub worker_stale_s: f64,
    /// Pass interval.
    pub interval: Duration,
    /// Publishes the woken runs.
    pub broker: Broker,
    /// Marks their outbox rows sent.
    pub sent: SentMarks,
    /// Takes over what could not be published.
    pub relay: RelayWaker,
}

impl Scheduler {
    /// Runs passes until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut unavailable = false;
        loop {
            match self.pass().await {
                Ok(()) => unavailable = false,
                Err(StoreError::Unavailable(err)) if !unavailable => {
                    unavailable = true;
                    tracing::warn!(error = %err, "scheduler paused: database unavailable");
                }
                Err(StoreError::Unavailable(_)) => {}
                Err(err) => tracing::warn!(error = %err, "scheduler pass failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    async fn pass(&self) -> Result<(), StoreError> {
        let default = (self.default_limit > 0).then_some(self.default_limit);
        admission::set_default_limit(&self.pool, default).await?;
        if self.fair_share {
            fair_share::rebalance(&self.pool, self.worker_stale_s).await?;
        } else {
            fair_share::clear(&self.pool).await?;
        }
        for project_id in admission::projects_with_parked(&self.pool).await? {
            let woken = admission::wake(&self.pool, project_id).await?;
            if !woken.is_empty() {
                tracing::debug!(woken = woken.len(), project.id = %project_id, "woke parked runs");
                fast_path::publish_pending(&self.broker, &self.sent, &self.relay, woken).await;
            }
        }
        Ok(())
    }
}

//! The worker's hot-path writes, batched: the claims of deliveries that
//! arrive together and the endings of attempts that end together each share
//! one statement ([`agent_runner_store::batch`]). A lone claim or ending is
//! written at once; they only gather while a statement is in flight.

use agent_runner_store::attempt::{self, Ending, NewEvent};
use agent_runner_store::batch::claims::{self, Claimed};
use agent_runner_store::batch::endings::{self, Finished, Finishing};
use agent_runner_store::batch::{Batcher, Stopped};
use agent_runner_store::claim::{self, Claim};
use agent_runner_store::{Pool, StoreError};
use std::sync::Arc;
use uuid::Uuid;

/// Statements of each kind in flight at once, per worker.
const SLOTS: usize = 1;
/// Most items per statement.
const MAX_BATCH: usize = 128;

/// Claims and endings, batched. Cheap to clone.
#[derive(Clone)]
pub struct Writes {
    pool: Pool,
    worker_id: Arc<str>,
    lease_s: f64,
    claims: Batcher<Uuid, Claimed>,
    endings: Batcher<Finishing, Finished>,
}

impl Writes {
    /// Starts the batching tasks (they stop when the last clone is dropped).
    pub fn start(pool: Pool, worker_id: &str, lease_s: f64) -> Self {
        let worker_id: Arc<str> = worker_id.into();
        let claims = {
            let (pool, worker_id) = (pool.clone(), worker_id.clone());
            Batcher::start(SLOTS, MAX_BATCH, move |ids| {
                let (pool, worker_id) = (pool.clone(), worker_id.clone());
                async move { claims::claim_many(&pool, ids, &worker_id, lease_s).await }
            })
        };
        let endings = {
            let pool = pool.clone();
            Batcher::start(SLOTS, MAX_BATCH, move |items| {
                let pool = pool.clone();
                async move { endings::finish_many(&pool, items).await }
            })
        };
        Self {
            pool,
            worker_id,
            lease_s,
            claims,
            endings,
        }
    }

    /// Claims the run for a new attempt, as [`claim::claim`].
    pub async fn claim(&self, run_id: Uuid) -> Result<Claim, StoreError> {
        match self.claims.call(run_id).await {
            Ok(claimed) => claimed,
            Err(Stopped) => claim::claim(&self.pool, run_id, &self.worker_id, self.lease_s).await,
        }
    }

    /// Ends the attempt, as [`attempt::finish`].
    pub async fn finish(
        &self,
        run_id: Uuid,
        attempt: i32,
        before: &[NewEvent],
        ending: &Ending,
    ) -> Finished {
        let finishing = Finishing {
            run_id,
            attempt,
            before: before.to_vec(),
            ending: ending.clone(),
        };
        match self.endings.call(finishing).await {
            Ok(finished) => finished,
            Err(Stopped) => attempt::finish(&self.pool, run_id, attempt, before, ending).await,
        }
    }
}

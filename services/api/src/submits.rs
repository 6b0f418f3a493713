//! Group commit for submissions: concurrent `POST /v1/runs` share one
//! statement ([`agent_runner_store::batch::submits`]). A lone submission is
//! written at once; submissions only gather while a statement is in flight,
//! and each request answers 201 only after the statement holding its run
//! committed.

use agent_runner_store::batch::submits::{self, Submitted};
use agent_runner_store::batch::{Batcher, Stopped};
use agent_runner_store::runs::{self, Created, NewRun};
use agent_runner_store::{Pool, StoreError};

/// Submission statements in flight at once.
const SLOTS: usize = 2;
/// Most runs per statement.
const MAX_BATCH: usize = 256;

/// Creates runs, many per statement. Cheap to clone.
#[derive(Clone)]
pub struct Submits {
    pool: Pool,
    batcher: Batcher<NewRun, Submitted>,
}

impl Submits {
    /// Starts the batching task (it stops when the last clone is dropped).
    pub fn start(pool: Pool) -> Self {
        let batcher = {
            let pool = pool.clone();
            Batcher::start(SLOTS, MAX_BATCH, move |runs| {
                let pool = pool.clone();
                async move { submits::create_many(&pool, runs).await }
            })
        };
        Self { pool, batcher }
    }

    /// Creates the run, as [`runs::create`].
    pub async fn create(&self, new: NewRun) -> Result<Created, StoreError> {
        match self.batcher.call(new.clone()).await {
            Ok(created) => created,
            Err(Stopped) => runs::create(&self.pool, &new).await,
        }
    }
}

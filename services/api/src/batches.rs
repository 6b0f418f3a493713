//! The api's batched statements: concurrent `POST /v1/runs` share one insert
//! (group commit, [`agent_runner_store::batch::submits`]) and concurrent
//! requests' token checks one read
//! ([`agent_runner_store::batch::token_checks`]). A lone request's statement
//! goes at once; requests only gather while a statement is in flight, and a
//! submission answers 201 only after the statement holding its run
//! committed.

use agent_runner_store::batch::submits::{self, Submitted};
use agent_runner_store::batch::token_checks::{self, Checked};
use agent_runner_store::batch::{Batcher, Stopped};
use agent_runner_store::runs::{self, Created, NewRun};
use agent_runner_store::tokens::{self, Principal};
use agent_runner_store::{Pool, StoreError};

/// Statements of each kind in flight at once.
const SLOTS: usize = 2;
/// Most items per statement.
const MAX_BATCH: usize = 256;

/// Submissions and token checks, batched. Cheap to clone.
#[derive(Clone)]
pub struct Batches {
    pool: Pool,
    submits: Batcher<NewRun, Submitted>,
    token_checks: Batcher<String, Checked>,
}

impl Batches {
    /// Starts the batching tasks (they stop when the last clone is dropped).
    pub fn start(pool: Pool) -> Self {
        let submits = {
            let pool = pool.clone();
            Batcher::start(SLOTS, MAX_BATCH, move |runs| {
                let pool = pool.clone();
                async move { submits::create_many(&pool, runs).await }
            })
        };
        let token_checks = {
            let pool = pool.clone();
            Batcher::start(SLOTS, MAX_BATCH, move |secrets| {
                let pool = pool.clone();
                async move { token_checks::authenticate_many(&pool, secrets).await }
            })
        };
        Self {
            pool,
            submits,
            token_checks,
        }
    }

    /// Creates the run, as [`runs::create`].
    pub async fn create(&self, new: NewRun) -> Result<Created, StoreError> {
        match self.submits.call(new.clone()).await {
            Ok(created) => created,
            Err(Stopped) => runs::create(&self.pool, &new).await,
        }
    }

    /// The principal of a presented token secret, as [`tokens::authenticate`].
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Principal>, StoreError> {
        match self.token_checks.call(secret.to_owned()).await {
            Ok(checked) => checked,
            Err(Stopped) => tokens::authenticate(&self.pool, secret).await,
        }
    }
}

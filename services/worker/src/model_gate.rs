//! [`StoreGate`]: the [`ModelGate`] an attempt's agent asks around each model
//! call, over PostgreSQL — the endpoint's allowance shared by every worker
//! (`store::allowance`) and the project's token usage and budgets
//! (`store::usage`). One per attempt: it knows the run's project.

use agent_runner_agent::{Admission, Allowance, GateError, ModelGate};
use agent_runner_domain::budget::{OverBudget, TokenBudget};
use agent_runner_store::{Pool, StoreError, allowance, usage};
use futures_util::future::BoxFuture;
use std::time::Duration;
use uuid::Uuid;

/// The model gate of one attempt.
pub struct StoreGate {
    pool: Pool,
    project_id: Uuid,
    /// The project's budgets as read when the run was claimed.
    budget: TokenBudget,
}

impl StoreGate {
    /// The gate for a run of `project_id` whose settings hold `budget`.
    pub fn new(pool: Pool, project_id: Uuid, budget: TokenBudget) -> Self {
        Self {
            pool,
            project_id,
            budget,
        }
    }
}

fn unavailable(err: StoreError) -> GateError {
    GateError(err.to_string())
}

impl ModelGate for StoreGate {
    fn acquire<'a>(
        &'a self,
        allowance: &'a Allowance,
    ) -> BoxFuture<'a, Result<Admission, GateError>> {
        Box::pin(async move {
            allowance::acquire(&self.pool, allowance)
                .await
                .map_err(unavailable)
        })
    }

    fn throttled<'a>(
        &'a self,
        allowance: &'a Allowance,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(), GateError>> {
        Box::pin(async move {
            allowance::block_until(&self.pool, &allowance.key, wait)
                .await
                .map_err(unavailable)
        })
    }

    fn spent<'a>(
        &'a self,
        allowance: &'a Allowance,
        tokens: u64,
    ) -> BoxFuture<'a, Result<(), GateError>> {
        Box::pin(async move {
            let (charged, recorded) = tokio::join!(
                allowance::charge_tokens(&self.pool, allowance, tokens),
                usage::record(&self.pool, self.project_id, tokens),
            );
            charged.and(recorded).map_err(unavailable)
        })
    }

    fn over_budget(&self) -> BoxFuture<'_, Result<Option<OverBudget>, GateError>> {
        Box::pin(async move {
            usage::over_budget(&self.pool, self.project_id, &self.budget)
                .await
                .map_err(unavailable)
        })
    }
}

//! What an agent that calls a model asks of its worker around each call: the
//! endpoint's allowance shared by every worker (requests and tokens per
//! minute, and a `Retry-After` one of them was told), the project's token
//! budgets, and where the tokens a reply reports are counted.
//!
//! The worker implements [`ModelGate`] over PostgreSQL for each attempt; an
//! agent only ever sees the trait, never the store. [`Unmetered`] lets
//! everything through and counts nothing (tests, agents without a model).

pub use agent_runner_domain::allowance::{Admission, Allowance, Limit};
use agent_runner_domain::budget::OverBudget;
use futures_util::future::BoxFuture;
use std::time::Duration;

/// The shared allowance or the budgets could not be read (the database is
/// unreachable): worth another attempt later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("model allowance unavailable: {0}")]
pub struct GateError(pub String);

/// What the worker answers an agent around each model call of an attempt.
pub trait ModelGate: Send + Sync {
    /// Asks to send one request to `allowance`: [`Admission::Go`] takes a
    /// request slot; [`Admission::Wait`] takes nothing.
    fn acquire<'a>(
        &'a self,
        allowance: &'a Allowance,
    ) -> BoxFuture<'a, Result<Admission, GateError>>;

    /// The endpoint of `allowance` answered 429 asking to wait `wait`: every
    /// worker's calls to it wait that long.
    fn throttled<'a>(
        &'a self,
        allowance: &'a Allowance,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(), GateError>>;

    /// A reply reported `tokens`: charged to the allowance's tokens per
    /// minute and counted in the project's usage.
    fn spent<'a>(
        &'a self,
        allowance: &'a Allowance,
        tokens: u64,
    ) -> BoxFuture<'a, Result<(), GateError>>;

    /// The project's token budget that is used up, if one is.
    fn over_budget(&self) -> BoxFuture<'_, Result<Option<OverBudget>, GateError>>;
}

/// A gate that lets every call through and counts nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unmetered;

impl ModelGate for Unmetered {
    fn acquire<'a>(&'a self, _: &'a Allowance) -> BoxFuture<'a, Result<Admission, GateError>> {
        Box::pin(async { Ok(Admission::Go) })
    }

    fn throttled<'a>(
        &'a self,
        _: &'a Allowance,
        _: Duration,
    ) -> BoxFuture<'a, Result<(), GateError>> {
        Box::pin(async { Ok(()) })
    }

    fn spent<'a>(&'a self, _: &'a Allowance, _: u64) -> BoxFuture<'a, Result<(), GateError>> {
        Box::pin(async { Ok(()) })
    }

    fn over_budget(&self) -> BoxFuture<'_, Result<Option<OverBudget>, GateError>> {
        Box::pin(async { Ok(None) })
    }
}

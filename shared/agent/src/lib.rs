//! The agent seam: what a worker executes for a run.
//!
//! - [`Agent`]: one kind of agent (`simulated`, `llm`, …), picked by the run's
//!   `agent` field through an [`AgentRegistry`].
//! - [`AgentContext`]: what an attempt gets — the run, its project, an
//!   [`EventSink`] for the timeline (writes are fenced by attempt) and a
//!   cancellation token.
//! - [`StoredBranch`]: the run's branch snapshot, read only when needed.
//! - [`ModelGate`]: what an agent calling a model asks of the worker around
//!   each call (the endpoint's shared allowance, the project's budgets).
//! - [`simulated`]: the lifecycle of the original design, with configurable
//!   step delays and failure injection for tests and smoke checks.
//!
//! An agent never touches the run's status: it returns an [`AgentOutcome`] or
//! an [`AgentError`] and the worker commits the transition.

mod context;
pub mod model_gate;
mod registry;
pub mod simulated;
mod stored_branch;

pub use context::{AgentContext, EmitError, EventSink, ProjectSpec, RunSpec};
pub use model_gate::{Admission, Allowance, GateError, Limit, ModelGate, Unmetered};
pub use registry::AgentRegistry;
pub use stored_branch::{SnapshotLoad, StoredBranch};

use agent_runner_domain::BranchSnapshot;
use futures_util::future::BoxFuture;
use serde_json::Value;

/// One kind of agent.
pub trait Agent: Send + Sync {
    /// The name a run uses to pick this agent (`runs.agent`).
    fn kind(&self) -> &'static str;

    /// Executes one attempt of a run. Must return promptly with
    /// [`AgentError::Cancelled`] once `ctx.cancel` fires.
    fn execute<'a>(
        &'a self,
        ctx: AgentContext<'a>,
    ) -> BoxFuture<'a, Result<AgentOutcome, AgentError>>;
}

/// How an attempt ended well.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentOutcome {
    /// Stored in `runs.result` (summary, diffstat, token usage, …).
    pub result: Value,
    /// The run waits for a reviewer (AWAITING_APPROVAL) instead of completing.
    pub awaiting_approval: bool,
    /// The run's branch, stored with the ending so that any worker can
    /// continue or review the run.
    pub branch: Option<BranchSnapshot>,
}

/// How an attempt ended badly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// Worth another attempt after a backoff (if attempts are left).
    #[error("transient failure: {0}")]
    Transient(String),
    /// Never worth retrying: the run fails at once.
    #[error("{0}")]
    Fatal(String),
    /// The cancellation token fired.
    #[error("cancelled")]
    Cancelled,
    /// This attempt lost the run (a newer attempt or a cancel took over):
    /// the worker must stop without writing anything more.
    #[error("attempt was fenced out")]
    Fenced,
}

impl From<EmitError> for AgentError {
    fn from(err: EmitError) -> Self {
        match err {
            EmitError::Fenced => AgentError::Fenced,
            EmitError::Unavailable(msg) => AgentError::Transient(msg),
        }
    }
}

//! What an agent attempt is given: the run, its project, a fenced event sink,
//! the model gate and a cancellation token.

use crate::{ModelGate, StoredBranch};
use agent_runner_domain::EventKind;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The run being executed, as read at claim time.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Run id.
    pub id: Uuid,
    /// The goal the client submitted.
    pub goal: String,
    /// Agent kind.
    pub agent: String,
    /// Agent parameters (a JSON object).
    pub params: Value,
    /// This attempt's number, from 1.
    pub attempt: i32,
    /// Attempts the run may take in all.
    pub max_attempts: i32,
    /// When the attempt must be over (the worker enforces it too).
    pub deadline: Instant,
    /// Follow-up messages posted to the run, oldest first.
    pub messages: Vec<String>,
    /// What earlier attempts left behind (`runs.result`), if anything.
    pub previous_result: Option<Value>,
    /// The run's branch as the last successful attempt left it, if one
    /// stored a snapshot: read only when the agent needs it.
    pub branch: StoredBranch,
}

/// The project a run belongs to.
#[derive(Debug, Clone)]
pub struct ProjectSpec {
    /// Project id.
    pub id: Uuid,
    /// Project name.
    pub name: String,
    /// Git repository (local path or URL), if the project has code.
    pub repo_url: Option<String>,
    /// Branch runs start from.
    pub default_branch: String,
    /// Project-level settings (a JSON object; e.g. `require_approval`).
    pub settings: Value,
}

/// Where an agent writes its timeline. Every write is fenced by the run's
/// attempt: once another attempt (or a cancel) owns the run, writes fail
/// with [`EmitError::Fenced`].
pub trait EventSink: Send + Sync {
    /// Appends one event to the run's timeline.
    fn emit(&self, kind: EventKind, payload: Value) -> BoxFuture<'_, Result<(), EmitError>>;
}

/// Why an event could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// The attempt no longer owns the run.
    #[error("attempt was fenced out")]
    Fenced,
    /// The database could not be reached.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
}

/// Everything one attempt gets.
pub struct AgentContext<'a> {
    /// The run.
    pub run: &'a RunSpec,
    /// Its project.
    pub project: &'a ProjectSpec,
    /// The run's timeline.
    pub events: &'a dyn EventSink,
    /// The model endpoint's shared allowance and the project's budgets
    /// (shared with the model client, which reports a 429 to it).
    pub gate: Arc<dyn ModelGate>,
    /// Fires on cancel, on deadline and on hard shutdown.
    pub cancel: CancellationToken,
}

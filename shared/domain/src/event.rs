//! Kinds of events on a run's timeline (`events.kind`).

use serde::{Deserialize, Serialize};

/// One kind of timeline event. Stored and served upper-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// The api accepted the run.
    RunCreated,
    /// A worker claimed the run for an attempt.
    RunStarted,
    /// The agent is deliberating (an LLM call, or the simulated pause).
    AgentThinking,
    /// The agent produced a plan.
    PlanGenerated,
    /// The agent is carrying out its plan.
    Executing,
    /// The agent called a tool.
    ToolCalled,
    /// A tool returned.
    ToolResult,
    /// The run's git worktree is ready.
    WorkspaceReady,
    /// The run's diff was stored.
    DiffReady,
    /// The run waits for approval.
    AwaitingApproval,
    /// The attempt failed transiently; another follows after a delay.
    RunRetrying,
    /// The run finished successfully.
    RunCompleted,
    /// The run failed for good.
    RunFailed,
    /// The run was cancelled.
    RunCancelled,
    /// A reviewer rejected the run's result.
    RunRejected,
    /// A follow-up message was posted to the run.
    MessagePosted,
    /// A running run emitted nothing for `STALL_AFTER_S`; it is not failed
    /// (the agent may be in a long build), its lease stays as it is.
    RunStalled,
    /// The agent waits before a model call for the endpoint's shared
    /// allowance (requests or tokens per minute, or a `Retry-After` another
    /// call received); `wait_ms` and `reason`. Not an error, not an
    /// iteration.
    ModelWaiting,
}

impl EventKind {
    /// The upper-case name stored in `events.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RunCreated => "RUN_CREATED",
            EventKind::RunStarted => "RUN_STARTED",
            EventKind::AgentThinking => "AGENT_THINKING",
            EventKind::PlanGenerated => "PLAN_GENERATED",
            EventKind::Executing => "EXECUTING",
            EventKind::ToolCalled => "TOOL_CALLED",
            EventKind::ToolResult => "TOOL_RESULT",
            EventKind::WorkspaceReady => "WORKSPACE_READY",
            EventKind::DiffReady => "DIFF_READY",
            EventKind::AwaitingApproval => "AWAITING_APPROVAL",
            EventKind::RunRetrying => "RUN_RETRYING",
            EventKind::RunCompleted => "RUN_COMPLETED",
            EventKind::RunFailed => "RUN_FAILED",
            EventKind::RunCancelled => "RUN_CANCELLED",
            EventKind::RunRejected => "RUN_REJECTED",
            EventKind::MessagePosted => "MESSAGE_POSTED",
            EventKind::RunStalled => "RUN_STALLED",
            EventKind::ModelWaiting => "MODEL_WAITING",
        }
    }

    /// Events that close a run's timeline (no event follows them unless the
    /// run is explicitly retried or continued).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            EventKind::RunCompleted
                | EventKind::RunFailed
                | EventKind::RunCancelled
                | EventKind::RunRejected
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_name_matches_the_stored_name() {
        for kind in [
            EventKind::RunCreated,
            EventKind::ToolResult,
            EventKind::RunRetrying,
            EventKind::ModelWaiting,
        ] {
            let json = serde_json::to_string(&kind).expect("serialise");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }
}

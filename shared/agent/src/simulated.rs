//! The simulated agent: the lifecycle of the original design.
//!
//! AGENT_THINKING, PLAN_GENERATED and EXECUTING, each followed by a pause of
//! `step_delay_ms`; RUN_STARTED and RUN_COMPLETED are written by the worker
//! with the claim and the terminal status. `fail_attempts` and `fail` inject
//! failures so that retries and dead-lettering can be exercised end to end.
//! `fail: "crash"` aborts the whole worker process during EXECUTING, but only
//! on a worker built [`SimulatedAgent::with_crash_faults`] (the fault suite
//! turns it on with `SIMULATED_CRASH_FAULTS=true`); elsewhere it is a fatal
//! failure of the run, so no client can take a worker down.

use crate::{Agent, AgentContext, AgentError, AgentOutcome};
use agent_runner_domain::EventKind;
use agent_runner_domain::submission::{FailMode, SimulatedParams};
use futures_util::future::BoxFuture;
use serde_json::json;
use std::time::Duration;

/// The simulated agent (`agent: "simulated"`).
#[derive(Debug, Default, Clone)]
pub struct SimulatedAgent {
    crash_faults: bool,
}

impl SimulatedAgent {
    /// The agent; `fail: "crash"` fails the run instead of the process.
    pub fn new() -> Self {
        Self::default()
    }

    /// The agent with crash faults on: `fail: "crash"` aborts the process.
    pub fn with_crash_faults(crash_faults: bool) -> Self {
        Self { crash_faults }
    }
}

impl Agent for SimulatedAgent {
    fn kind(&self) -> &'static str {
        "simulated"
    }

    fn execute<'a>(
        &'a self,
        ctx: AgentContext<'a>,
    ) -> BoxFuture<'a, Result<AgentOutcome, AgentError>> {
        Box::pin(async move {
            let params = SimulatedParams::from_value(&ctx.run.params)
                .map_err(|e| AgentError::Fatal(e.to_string()))?;
            let delay = Duration::from_millis(params.step_delay_ms);
            let steps = [
                (
                    EventKind::AgentThinking,
                    json!({"message": "analysing the goal"}),
                ),
                (
                    EventKind::PlanGenerated,
                    json!({"plan": ["understand the goal", "make the change", "verify"]}),
                ),
                (EventKind::Executing, json!({"step": "make the change"})),
            ];
            for (kind, payload) in steps {
                ctx.events.emit(kind, payload).await?;
                pause(&ctx, delay).await?;
            }
            match params.fail {
                Some(FailMode::Crash) if self.crash_faults => {
                    tracing::error!(run.id = %ctx.run.id, "simulated crash: aborting the worker process");
                    std::process::abort();
                }
                Some(FailMode::Crash) => {
                    return Err(AgentError::Fatal(
                        "simulated crash refused: crash faults are off on this worker \
                         (SIMULATED_CRASH_FAULTS)"
                            .into(),
                    ));
                }
                Some(FailMode::Fatal) => {
                    return Err(AgentError::Fatal("simulated fatal failure".into()));
                }
                Some(FailMode::Permanent) => {
                    return Err(AgentError::Transient(format!(
                        "simulated failure on attempt {} (fails every attempt)",
                        ctx.run.attempt
                    )));
                }
                None => {}
            }
            if i64::from(ctx.run.attempt) <= i64::from(params.fail_attempts) {
                return Err(AgentError::Transient(format!(
                    "simulated transient failure on attempt {} of the first {}",
                    ctx.run.attempt, params.fail_attempts
                )));
            }
            Ok(AgentOutcome {
                result: json!({"summary": format!("simulated run for goal: {}", ctx.run.goal)}),
                awaiting_approval: false,
                branch: None,
            })
        })
    }
}

async fn pause(ctx: &AgentContext<'_>, delay: Duration) -> Result<(), AgentError> {
    if delay.is_zero() {
        return if ctx.cancel.is_cancelled() {
            Err(AgentError::Cancelled)
        } else {
            Ok(())
        };
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => Ok(()),
        () = ctx.cancel.cancelled() => Err(AgentError::Cancelled),
    }
}

//! The agents a worker executes — `simulated` and `llm` — and the review
//! settings of the `llm` agent's workspaces, read from the environment
//! (`LLM_BASE_URL`, `LLM_MODEL`, `WORKSPACE_ROOT`, …; see the coding agent's
//! `CodingAgentConfig`).

use crate::review::ReviewSettings;
use agent_runner_agent::AgentRegistry;
use agent_runner_agent::simulated::SimulatedAgent;
use agent_runner_coding_agent::{CodingAgent, CodingAgentConfig, ConfigError};
use agent_runner_config::Env;
use std::sync::Arc;

/// Every agent kind, configured from `env`, and where their worktrees are;
/// `crash_faults` lets simulated runs abort the process (`fail: "crash"`).
pub fn from_env(
    env: &Env,
    crash_faults: bool,
) -> Result<(AgentRegistry, ReviewSettings), ConfigError> {
    let llm = CodingAgent::new(CodingAgentConfig::from_lookup(|var| env.raw(var))?);
    let review = ReviewSettings::from(&llm);
    let agents = AgentRegistry::new()
        .with(Arc::new(SimulatedAgent::with_crash_faults(crash_faults)))
        .with(Arc::new(llm));
    Ok((agents, review))
}

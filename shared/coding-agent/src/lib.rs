//! The `llm` agent of agent-runner: a coding agent that works on a project's
//! repository through an OpenAI-compatible chat model with tool calling.
//!
//! One attempt of a run goes like this:
//! 1. [`workspace`]: the project's bare mirror is cloned or fetched and the
//!    run gets a git worktree on branch `agent/<short-id>-<slug>`
//!    (WORKSPACE_READY).
//! 2. The loop (`agent_loop`): the model is asked (AGENT_THINKING,
//!    PLAN_GENERATED), calls [`tools`] confined to the worktree (TOOL_CALLED,
//!    TOOL_RESULT) and ends with `finish` — or with `give_up`, a limit, a
//!    failure or a cancel. Before each call (`metering`) the project's token
//!    budgets are checked and the endpoint's allowance shared by every
//!    worker is waited for (MODEL_WAITING); after it the reply's tokens are
//!    counted.
//! 3. The harness commits the worktree and stores the diff from the start
//!    commit (DIFF_READY); the worktree is removed unless the run awaits
//!    approval.
//!
//! Modules:
//! - [`config`] — [`CodingAgentConfig`] from the environment.
//! - [`params`] — per-run overrides and [`validate_llm_params`] for the api.
//! - [`llm`] — the [`ChatModel`](llm::ChatModel) seam and its
//!   OpenAI-compatible client (reqwest + backon retries).
//! - [`tools`] — list_files, read_file, search_code, write_file, str_replace,
//!   run_command, finish, give_up.
//! - [`workspace`] — mirror, worktree, commit and diff, through the git CLI.
//! - [`review`] — approve, reject, and commands in a kept worktree.
//! - [`sandbox`] — the sandbox every command in a worktree runs in, and
//!   the `agent-runner-sandbox` launcher it execs.
//!
//! The agent never writes a run's status nor RUN_* events: it returns an
//! outcome or an error and the worker commits the transition.

mod agent;
mod agent_loop;
pub mod config;
mod conversation;
pub mod llm;
mod metering;
pub mod output;
pub mod params;
pub mod review;
pub mod sandbox;
pub mod tools;
pub mod workspace;

pub use agent::CodingAgent;
pub use agent_runner_domain::llm_settings::{
    params_override_endpoint, validate_llm_params, validate_project_settings,
};
pub use config::{CodingAgentConfig, ConfigError, LlmConfig, RateLimits, RetryConfig};
pub use review::{
    ApproveOutcome, ApproveTarget, ExecCommand, RejectOutcome, ReviewError, approve,
    exec_in_worktree, reject,
};
pub use tools::ExecOutput;
pub use workspace::RunBranch;

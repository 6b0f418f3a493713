//! Integration tests of the `llm` agent: the real agent against a scripted
//! OpenAI-compatible server, temporary git repositories and an in-memory
//! event sink. No test needs a real model.

use agent_runner_test_fixtures::fake_llm;
mod helpers;

mod approval;
mod branch_push;
mod confinement;
mod continuation;
mod happy_path;
mod harness_git;
mod limits_and_cancel;
mod llm_failures;
mod refused_repos;
mod sandbox_escapes;
mod sandbox_landlock;
mod sandbox_modes;
mod snapshot;
mod tool_calls;

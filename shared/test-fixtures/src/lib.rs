//! Fixtures shared by the test suites of agent-runner (the `llm` agent's own
//! tests and the end-to-end tests): never used by the services themselves.
//!
//! - [`fake_llm`]: a scripted OpenAI-compatible chat-completions server on
//!   `127.0.0.1:0`, speaking the real wire format and recording requests.
//! - [`git_repo`]: temporary git repositories and small git helpers.
//! - [`git_daemon`]: a `git://` remote on 127.0.0.1 that accepts or refuses
//!   pushes.
//! - [`rabbit_node`]: a private RabbitMQ node, plain or with a TLS listener.

pub mod fake_llm;
pub mod git_daemon;
pub mod git_repo;
pub mod rabbit_node;

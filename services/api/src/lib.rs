//! The agent-runner api.
//!
//! A thin axum service: it validates and authenticates requests, records runs
//! in Postgres (run row, RUN_CREATED event and outbox row in one transaction),
//! publishes jobs to RabbitMQ and reads runs back. It holds no run state in
//! memory.
//!
//! - [`config`]: the api's settings from the environment.
//! - [`app`]: [`Application::build`] and [`Application::run_until_stopped`].
//! - [`broker`]: the RabbitMQ link, reconnected by a supervisor.
//! - [`relay`]: publishes outbox rows the request path could not.
//! - [`reaper`]: re-enqueues runs that no delivery would bring back.
//! - [`dispatch`]: review and exec requests sent to the worker holding a
//!   run's worktree, and the wait for its answer.
//! - [`routes`]: the HTTP handlers.
//! - [`error`], [`extract`], [`auth`]: how requests are checked and errors answered.
//! - [`cli`]: the `migrate` and `token` subcommands.

pub mod app;
pub mod auth;
pub mod broker;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod extract;
pub mod reaper;
pub mod relay;
pub mod routes;
pub mod state;

pub use app::Application;
pub use config::ApiConfig;

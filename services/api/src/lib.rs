//! The agent-runner api.
//!
//! A thin axum service: it validates and authenticates requests, records runs
//! in Postgres (run row, RUN_CREATED event and outbox row in one transaction),
//! publishes jobs to RabbitMQ and reads runs back. It holds no run state in
//! memory.
//!
//! - [`config`]: the api's settings from the environment.
//! - [`app`]: [`Application::build`] and [`Application::run_until_stopped`].
//! - [`batches`]: group commit of submissions, and token checks many per read.
//! - [`outbox`]: publishing what the outbox holds: the request's fast path,
//!   the sent marks, the relay.
//! - [`background`]: the services that run beside the requests: the
//!   RabbitMQ link and its supervisor, the reaper, the run-watch poller.
//! - [`run_requests`]: run requests (approve, reject, exec) sent to the worker holding a
//!   run's worktree, and the wait for its answer.
//! - [`routes`]: the HTTP handlers, each registered with its OpenAPI
//!   documentation; [`openapi`]: the document's frame.
//! - [`http`]: the plumbing every route shares: the connection loop and its
//!   timeouts, authentication and its throttle, extractors, errors, security
//!   headers, the request span and request metrics.
//! - [`console`]: the web console's page and its embedded files at `/ui/`.
//! - [`metrics`]: the api's Prometheus metrics on `/metrics`.
//! - [`cli`]: the `migrate` and `token` subcommands.

pub mod app;
pub mod background;
pub mod batches;
pub mod cli;
pub mod config;
pub mod console;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod routes;
pub mod run_requests;
pub mod state;

pub use app::Application;
pub use config::ApiConfig;

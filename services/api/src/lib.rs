//! The agent-runner api.
//!
//! A thin axum service: it validates and authenticates requests, records runs
//! in Postgres (run row, RUN_CREATED event and outbox row in one transaction),
//! publishes jobs to RabbitMQ and reads runs back. It holds no run state in
//! memory.
//!
//! - [`config`]: the api's settings from the environment.
//! - [`app`]: [`Application::build`] and [`Application::run_until_stopped`].
//! - [`outbox`]: publishing what the outbox holds: the request's fast path,
//!   the sent marks, the relay.
//! - [`background`]: the services that run beside the requests: the
//!   RabbitMQ link and its supervisor, the reaper, the run-watch poller.
//! - [`run_requests`]: run requests (approve, reject, exec) sent to the worker holding a
//!   run's worktree, and the wait for its answer.
//! - [`routes`]: the HTTP handlers, each registered with its OpenAPI
//!   documentation; [`openapi`]: the document's frame.
//! - [`metrics`], [`request_metrics`]: Prometheus metrics on `/metrics`.
//! - [`request_trace`]: the request span and its W3C trace context.
//! - [`serve`]: the connection loop, with its header-read and idle timeouts;
//!   [`parse_errors`]: JSON bodies for the requests hyper itself refuses.
//! - [`error`], [`extract`], [`auth`], [`auth_throttle`], [`security_headers`]:
//!   how requests are checked and errors answered.
//! - [`cli`]: the `migrate` and `token` subcommands.

pub mod app;
pub mod auth;
pub mod auth_throttle;
pub mod background;
pub mod cli;
pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod panic_guard;
pub mod parse_errors;
pub mod request_metrics;
pub mod request_trace;
pub mod routes;
pub mod run_requests;
pub mod security_headers;
pub mod serve;
pub mod state;

pub use app::Application;
pub use config::ApiConfig;

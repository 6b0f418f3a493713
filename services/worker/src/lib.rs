//! The agent-runner worker.
//!
//! One process = one RabbitMQ consumer whose prefetch is its concurrency.
//! For each delivery it claims the run in Postgres (a guarded update with a
//! lease), executes the agent, commits the terminal status (or the retry
//! hand-off) and only then acks. Stateless apart from the runs in flight.
//!
//! - [`config`]: settings from the environment.
//! - [`agents`]: the agents this worker executes, from the environment.
//! - [`worker`]: [`Worker::build`] / [`Worker::run_until_stopped`]: wiring and shutdown.
//! - [`consumer`]: the consume loop and its reconnect supervisor.
//! - [`delivery`]: what happens to one delivery, from parse to ack.
//! - [`wakes`]: publishing the parked runs that the admission woke.
//! - [`execution`]: one attempt of a run: agent, deadline, cancellation, ending
//!   (every ending goes through it).
//! - [`dead_letter`]: why a message is dead-lettered, typed.
//! - [`db_retry`]: riding out a database outage on a run's behalf.
//! - [`inflight`]: the runs executing now and their cancel handles.
//! - [`model_gate`]: the shared model allowance and the project's token
//!   budgets, over the store, for the agents' model calls.
//! - [`heartbeat`]: lease renewal and the `workers` row.
//! - [`cancel_listener`]: Postgres LISTEN for cancel requests.
//! - [`run_requests`]: run requests (approve, reject, exec) on the worker's own queue.
//! - [`review`]: approve, reject and exec on the worktrees this worker keeps.
//! - [`sink`]: the event log agents write their timeline to: fenced, and
//!   written behind the agent, a burst per statement.
//! - [`http`]: `/healthz` for probes and `/metrics`.
//! - [`inspection`]: keeping other processes of the worker's user out of its
//!   environment and memory.
//! - [`metrics`]: the worker's Prometheus metrics.
//! - [`state`]: the handles the parts share (pool, metrics, retry tiers,
//!   batched writes).
//! - [`writes`]: claims and endings, many per statement when they meet.

pub mod agents;
pub mod cancel_listener;
pub mod config;
pub mod consumer;
pub mod db_retry;
pub mod dead_letter;
pub mod delivery;
pub mod execution;
pub mod heartbeat;
pub mod http;
pub mod inflight;
pub mod inspection;
pub mod metrics;
pub mod model_gate;
pub mod review;
pub mod run_requests;
pub mod sink;
pub mod state;
pub mod wakes;
pub mod worker;
pub mod writes;

pub use config::WorkerConfig;
pub use review::ReviewSettings;
pub use worker::Worker;

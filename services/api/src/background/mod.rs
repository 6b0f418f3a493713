//! The api's background services, apart from its HTTP plumbing: each runs
//! as a task of its own from start-up to shutdown.
//!
//! - [`broker`]: the link to RabbitMQ and its reconnecting supervisor.
//! - [`reaper`]: hands orphaned runs back to the queue.
//! - [`run_watch`]: one poller of run progress for every open event stream.
//! - [`scheduler`]: fair shares, the default project limit, and waking parked runs.

pub mod broker;
pub mod reaper;
pub mod run_watch;
pub mod scheduler;

//! The api's side of the transactional outbox: every state change that
//! needs a message commits an outbox row with it (`agent_runner_store::outbox`);
//! here the message gets published.
//!
//! - [`fast_path`]: the request that committed the row publishes it at once.
//! - [`sent_marks`]: marks fast-path rows sent, many per statement.
//! - [`relay`]: publishes the rows the fast path could not, on a timer and
//!   when woken.

pub mod fast_path;
pub mod relay;
pub mod sent_marks;

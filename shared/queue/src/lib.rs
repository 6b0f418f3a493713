//! RabbitMQ for agent-runner: transport only, never the source of truth.
//!
//! - [`names`]: every exchange and queue name, carrying the deployment's prefix.
//! - [`topology`]: idempotent declaration of the exchanges and queues.
//! - [`address`]: the broker's URL and TLS settings (`AMQP_URL`, `AMQP_CA_FILE`, …).
//! - [`connect`]: connections named for the management UI.
//! - [`publisher`]: confirmed, persistent, mandatory publishing of jobs, and
//!   reading their properties back from a delivery.
//! - [`acks`]: settling a consumed message.
//! - [`tiers`]: the retry delay tiers and how a backoff delay maps onto them.

pub mod acks;
pub mod address;
pub mod connect;
mod error;
pub mod names;
pub mod publisher;
pub mod tiers;
pub mod topology;

pub use address::BrokerAddress;
pub use error::QueueError;
pub use lapin;
pub use names::Names;
pub use publisher::{JobProperties, Publisher};
pub use tiers::RetryTiers;

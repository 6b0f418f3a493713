//! Opens connections named for the RabbitMQ management UI.
//!
//! lapin's own auto-recovery is left off: callers run a supervisor that
//! reconnects from scratch, re-declares the topology and re-consumes, which
//! is simpler to reason about than a half-recovered channel.

use crate::QueueError;
use lapin::{Connection, ConnectionProperties};

/// Connects to `amqp_url` (its vhost is honoured) under `connection_name`,
/// which the management UI shows in its Connections tab.
pub async fn connect(amqp_url: &str, connection_name: &str) -> Result<Connection, QueueError> {
    let props = ConnectionProperties::default().with_connection_name(connection_name.into());
    Ok(Connection::connect(amqp_url, props).await?)
}

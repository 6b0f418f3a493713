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

/// Reconnect delays for supervisors: 100 ms doubling to 5 s, with jitter, forever.
pub fn reconnect_backoff() -> impl Iterator<Item = std::time::Duration> + Send {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(100))
        .with_max_delay(std::time::Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

//! The queue crate's error type.

/// What can go wrong talking to RabbitMQ.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The connection or channel failed (broker down, restarted, closed us).
    #[error("rabbitmq unavailable: {0}")]
    Amqp(#[from] lapin::Error),
    /// The broker refused to take responsibility for a message.
    #[error("rabbitmq nacked the publish to {0}")]
    Nacked(String),
    /// A mandatory publish matched no queue (topology missing).
    #[error("message to {0} was unroutable")]
    Unroutable(String),
    /// The broker took the TCP connection but did not finish the AMQP
    /// handshake in time (a node still booting, a half-open network).
    #[error("rabbitmq did not complete the connection within {0:?}")]
    ConnectTimeout(std::time::Duration),
}

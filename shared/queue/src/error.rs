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
}

//! Settling a consumed message: ack, or nack with requeue. A failure to
//! settle is logged and otherwise harmless: the broker redelivers an
//! unsettled message once the channel closes.

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};

/// Acks `delivery`.
pub async fn ack(delivery: &Delivery) {
    match delivery.ack(BasicAckOptions::default()).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("ack not sent: the channel is gone, the message will be redelivered")
        }
        Err(err) => tracing::warn!(error = %err, "ack failed; the message will be redelivered"),
    }
}

/// Nacks `delivery` back onto its queue.
pub async fn nack_requeue(delivery: &Delivery) {
    let options = BasicNackOptions {
        requeue: true,
        ..Default::default()
    };
    if let Err(err) = delivery.nack(options).await {
        tracing::warn!(error = %err, "nack failed; the message will be redelivered");
    }
}

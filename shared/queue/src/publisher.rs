//! Confirmed publishing of jobs.
//!
//! Every publish is persistent (delivery mode 2), mandatory (an unroutable
//! message is an error, not a silent drop) and waits for the broker's
//! confirm, so "published" means "the broker has it on disk".

use crate::QueueError;
use crate::names::{Names, WORK_ROUTING_KEY};
use agent_runner_domain::JobMessage;
use lapin::Confirmation;
use lapin::message::Delivery;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use uuid::Uuid;

/// AMQP properties of a job besides its body, shown in the management UI.
#[derive(Debug, Clone)]
pub struct JobProperties {
    /// Attempt the message is for (header `attempt`).
    pub attempt: i32,
    /// Project of the run (header `project_id`).
    pub project_id: Option<Uuid>,
    /// Why the message is dead (header `reason`), for dead letters.
    pub reason: Option<String>,
    /// W3C trace context the consumer continues (header `traceparent`).
    pub traceparent: Option<String>,
}

/// Header names of [`JobProperties`].
const ATTEMPT: &str = "attempt";
const PROJECT_ID: &str = "project_id";
const REASON: &str = "reason";
const TRACEPARENT: &str = "traceparent";

impl JobProperties {
    /// The properties a consumed message carries, read back from the
    /// headers [`Publisher`] wrote: attempt 0 and `None`s where a header is
    /// missing or of another type (a message published by hand).
    pub fn from_delivery(delivery: &Delivery) -> Self {
        let headers = delivery.properties.headers().as_ref();
        let get = |name: &str| headers.and_then(|h| h.inner().get(name));
        let text = |name: &str| match get(name) {
            Some(AMQPValue::LongString(value)) => Some(value.to_string()),
            _ => None,
        };
        Self {
            attempt: match get(ATTEMPT) {
                Some(AMQPValue::LongInt(n)) => *n,
                _ => 0,
            },
            project_id: text(PROJECT_ID).and_then(|id| id.parse().ok()),
            reason: text(REASON),
            traceparent: text(TRACEPARENT),
        }
    }
}

/// A confirm-mode channel and the names to publish to.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
    names: Names,
    app_id: String,
}

impl Publisher {
    /// Opens a confirm-mode channel on `connection`. `app_id` names the
    /// publishing process in message properties.
    pub async fn open(
        connection: &Connection,
        names: Names,
        app_id: &str,
    ) -> Result<Self, QueueError> {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self {
            channel,
            names,
            app_id: app_id.to_owned(),
        })
    }

    /// True while the channel is usable.
    pub fn is_connected(&self) -> bool {
        self.channel.status().connected()
    }

    /// How many messages wait in the dead-letter queue. A passive declare:
    /// nothing is created, and a dead-letter queue that was deleted closes
    /// this channel, so the owner reconnects and declares it again.
    pub async fn dead_letter_count(&self) -> Result<u32, QueueError> {
        let queue = self
            .channel
            .queue_declare(
                self.names.dead_queue().as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(queue.message_count())
    }

    /// Publishes a job onto the work exchange.
    pub async fn publish_job(
        &self,
        msg: &JobMessage,
        props: &JobProperties,
    ) -> Result<(), QueueError> {
        let exchange = self.names.work_exchange();
        self.publish(
            &exchange,
            WORK_ROUTING_KEY,
            &msg.to_bytes(),
            msg.run_id(),
            msg.type_name(),
            props,
        )
        .await
    }

    /// Publishes a control job to one worker's own queue through the direct
    /// exchange. A worker that is gone has no queue bound: the publish fails
    /// with [`QueueError::Unroutable`].
    pub async fn publish_to_worker(
        &self,
        msg: &JobMessage,
        props: &JobProperties,
        worker_id: &str,
    ) -> Result<(), QueueError> {
        let exchange = self.names.direct_exchange();
        self.publish(
            &exchange,
            worker_id,
            &msg.to_bytes(),
            msg.run_id(),
            msg.type_name(),
            props,
        )
        .await
    }

    /// Publishes a job into the retry tier of `delay_ms`; it reaches the work
    /// queue once the tier's TTL expires.
    pub async fn publish_delayed(
        &self,
        msg: &JobMessage,
        props: &JobProperties,
        delay_ms: u64,
    ) -> Result<(), QueueError> {
        let queue = self.names.retry_queue(delay_ms);
        self.publish(
            "",
            &queue,
            &msg.to_bytes(),
            msg.run_id(),
            msg.type_name(),
            props,
        )
        .await
    }

    /// Publishes raw bytes to the dead-letter exchange with a `reason` header.
    pub async fn publish_dead(
        &self,
        body: &[u8],
        message_id: Option<Uuid>,
        props: &JobProperties,
    ) -> Result<(), QueueError> {
        let exchange = self.names.dead_exchange();
        self.publish(
            &exchange,
            "",
            body,
            message_id.unwrap_or(Uuid::nil()),
            "dead_letter",
            props,
        )
        .await
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        message_id: Uuid,
        kind: &str,
        props: &JobProperties,
    ) -> Result<(), QueueError> {
        let mut headers = FieldTable::default();
        headers.insert(ATTEMPT.into(), AMQPValue::LongInt(props.attempt));
        if let Some(project_id) = props.project_id {
            headers.insert(PROJECT_ID.into(), long_string(&project_id.to_string()));
        }
        if let Some(reason) = &props.reason {
            headers.insert(REASON.into(), long_string(reason));
        }
        if let Some(traceparent) = &props.traceparent {
            headers.insert(TRACEPARENT.into(), long_string(traceparent));
        }
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let properties = BasicProperties::default()
            .with_message_id(ShortString::from(message_id.to_string()))
            .with_app_id(ShortString::from(self.app_id.as_str()))
            .with_type(ShortString::from(kind))
            .with_content_type("application/json".into())
            .with_timestamp(timestamp)
            // 2 = persistent: written to disk by the broker.
            .with_delivery_mode(2)
            .with_headers(headers);
        let target = if exchange.is_empty() {
            routing_key
        } else {
            exchange
        };
        let confirm = self
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                // mandatory: return the message to us if no queue is bound.
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                properties,
            )
            .await?
            .await?;
        match confirm {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => Err(QueueError::Unroutable(target.to_owned())),
            Confirmation::Nack(_) | Confirmation::NotRequested => {
                Err(QueueError::Nacked(target.to_owned()))
            }
        }
    }
}

fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

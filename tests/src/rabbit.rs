//! RabbitMQ access for tests: the management API (vhosts, queue depths) and
//! raw AMQP (publishing arbitrary bodies, reading the dead-letter queue).

use agent_runner_queue::lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, QueueDeclareOptions,
};
use agent_runner_queue::lapin::types::{AMQPValue, FieldTable};
use agent_runner_queue::lapin::{BasicProperties, Connection};
use agent_runner_queue::{BrokerAddress, connect};
use serde_json::Value;

fn management_url() -> String {
    std::env::var("TEST_RABBITMQ_MGMT_URL")
        .unwrap_or_else(|_| "http://guest:guest@127.0.0.1:15672".into())
}

/// A message read back from a queue with [`Rabbit::drain`]: usually the
/// dead-letter queue, or the work queue while no worker consumes it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Body bytes.
    pub body: Vec<u8>,
    /// `message_id` property.
    pub message_id: Option<String>,
    /// `reason` header, when we dead-lettered it ourselves.
    pub reason: Option<String>,
    /// `x-death` reason, when RabbitMQ dead-lettered it (delivery limit).
    pub x_death_reason: Option<String>,
    /// `traceparent` header: the W3C trace the message continues.
    pub traceparent: Option<String>,
    /// `attempt` header.
    pub attempt: Option<i32>,
    /// `project_id` header.
    pub project_id: Option<String>,
    /// `app_id` property: the publishing program.
    pub app_id: Option<String>,
    /// `type` property: what the message is.
    pub kind: Option<String>,
    /// `timestamp` property (seconds since the epoch).
    pub timestamp: Option<u64>,
    /// `delivery_mode` 2: the broker keeps it on disk.
    pub persistent: bool,
}

/// One test's vhost.
#[derive(Debug, Clone)]
pub struct Rabbit {
    vhost: String,
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
}

impl Rabbit {
    /// Creates the vhost and grants the guest user everything on it.
    pub async fn create_vhost(vhost: &str) -> Self {
        let url = management_url();
        let (scheme, rest) = url
            .split_once("://")
            .expect("TEST_RABBITMQ_MGMT_URL is a URL");
        let (credentials, host) = rest.split_once('@').unwrap_or(("guest:guest", rest));
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        let rabbit = Self {
            vhost: vhost.to_owned(),
            // No pooled connections: the vhost is deleted from a runtime of
            // its own (`TestEnv`'s drop), where a connection kept by the
            // test's runtime would hang until the timeout.
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .pool_max_idle_per_host(0)
                .build()
                .expect("http client"),
            base: format!("{scheme}://{host}"),
            user: user.to_owned(),
            password: password.to_owned(),
        };
        let response = rabbit
            .http
            .put(format!("{}/api/vhosts/{vhost}", rabbit.base))
            .basic_auth(&rabbit.user, Some(&rabbit.password))
            .send()
            .await
            .expect("RabbitMQ management API (is the management plugin enabled? try scripts/services-up)");
        assert!(
            response.status().is_success(),
            "create vhost: {}",
            response.status()
        );
        let response = rabbit
            .http
            .put(format!(
                "{}/api/permissions/{vhost}/{}",
                rabbit.base, rabbit.user
            ))
            .basic_auth(&rabbit.user, Some(&rabbit.password))
            .json(&serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"}))
            .send()
            .await
            .expect("set permissions");
        assert!(
            response.status().is_success(),
            "set permissions: {}",
            response.status()
        );
        rabbit
    }

    /// Deletes the vhost and everything in it.
    pub async fn delete_vhost(&self) {
        let _deleted = self
            .http
            .delete(format!("{}/api/vhosts/{}", self.base, self.vhost))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await;
    }

    /// A queue's details from the management API (`messages`, `consumers`, …).
    pub async fn queue_info(&self, queue: &str) -> Value {
        self.http
            .get(format!("{}/api/queues/{}/{queue}", self.base, self.vhost))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .expect("management API")
            .json()
            .await
            .expect("queue JSON")
    }

    /// Opens an AMQP connection to the vhost.
    pub async fn connect(&self, amqp_url: &str) -> Connection {
        connect::connect(&BrokerAddress::plain(amqp_url), "tests")
            .await
            .expect("amqp connect")
    }

    /// Publishes raw bytes to an exchange (no confirms needed for tests: the
    /// channel is closed cleanly, which flushes the publish).
    pub async fn publish_raw(
        &self,
        amqp_url: &str,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        message_id: &str,
    ) {
        let connection = self.connect(amqp_url).await;
        let channel = connection.create_channel().await.expect("channel");
        channel
            .confirm_select(Default::default())
            .await
            .expect("confirm mode");
        channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default()
                    .with_message_id(message_id.into())
                    .with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        let _closed = connection.close(200, "done".into()).await;
    }

    /// Messages waiting in a queue (AMQP passive declare: exact and immediate).
    pub async fn ready_count(&self, amqp_url: &str, queue: &str) -> u32 {
        let connection = self.connect(amqp_url).await;
        let channel = connection.create_channel().await.expect("channel");
        let q = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("passive declare");
        let _closed = connection.close(200, "done".into()).await;
        q.message_count()
    }

    /// Takes every message in `queue` (acking them).
    pub async fn drain(&self, amqp_url: &str, queue: &str) -> Vec<DeadLetter> {
        let connection = self.connect(amqp_url).await;
        let channel = connection.create_channel().await.expect("channel");
        let mut out = Vec::new();
        while let Some(message) = channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .expect("basic.get")
        {
            let props = &message.delivery.properties;
            let headers = props.headers().clone().unwrap_or_default();
            let header = |key: &str| -> Option<String> {
                headers.inner().get(key).and_then(|v| match v {
                    AMQPValue::LongString(s) => Some(s.to_string()),
                    _ => None,
                })
            };
            let x_death_reason = headers.inner().get("x-death").and_then(|v| match v {
                AMQPValue::FieldArray(array) => {
                    array.as_slice().first().and_then(|entry| match entry {
                        AMQPValue::FieldTable(t) => t.inner().get("reason").and_then(|r| match r {
                            AMQPValue::LongString(s) => Some(s.to_string()),
                            _ => None,
                        }),
                        _ => None,
                    })
                }
                _ => None,
            });
            out.push(DeadLetter {
                body: message.delivery.data.clone(),
                message_id: props.message_id().as_ref().map(|m| m.to_string()),
                reason: header("reason"),
                x_death_reason,
                traceparent: header("traceparent"),
                attempt: match headers.inner().get("attempt") {
                    Some(AMQPValue::LongInt(n)) => Some(*n),
                    _ => None,
                },
                project_id: header("project_id"),
                app_id: props.app_id().as_ref().map(|a| a.to_string()),
                kind: props.kind().as_ref().map(|k| k.to_string()),
                timestamp: *props.timestamp(),
                persistent: *props.delivery_mode() == Some(2),
            });
            message
                .delivery
                .ack(BasicAckOptions::default())
                .await
                .expect("ack");
        }
        let _closed = connection.close(200, "done".into()).await;
        out
    }
}

//! The api's link to RabbitMQ, kept up by a supervisor task.
//!
//! The supervisor connects (connection name `agent-runner-api@<host>`),
//! declares the topology, opens a confirm-mode publisher and watches the
//! connection; when it drops, the publisher is withdrawn (publishes fail
//! fast, the outbox keeps the runs) and the supervisor reconnects with
//! exponential backoff. No operator action is ever needed.

use agent_runner_domain::JobMessage;
use agent_runner_queue::{
    BrokerAddress, JobProperties, Names, Publisher, QueueError, RetryTiers, connect,
};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long closing the RabbitMQ connection may take when the api stops,
/// after the drain of in-flight requests. (`scripts/validate_deploy/rust_sources.py`
/// reads it as the api's shutdown margin beyond `SHUTDOWN_GRACE_S`.)
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// The broker and how to trust it.
    pub broker: BrokerAddress,
    /// Exchange/queue names.
    pub names: Names,
    /// Retry tiers to declare.
    pub tiers: RetryTiers,
    /// Work-queue delivery limit.
    pub delivery_limit: i64,
    /// Connection name shown in the management UI.
    pub connection_name: String,
}

/// A cheap clonable handle on the current publisher, if connected.
#[derive(Clone, Default)]
pub struct Broker {
    publisher: Arc<RwLock<Option<Publisher>>>,
}

/// Why a publish did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No connection right now; the supervisor is reconnecting.
    #[error("not connected to rabbitmq")]
    NotConnected,
    /// The broker failed or refused the publish.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// No confirm within the deadline.
    #[error("publish confirm timed out")]
    TimedOut,
}

impl Broker {
    /// Starts the supervisor; it stops when `shutdown` fires.
    pub fn start(settings: BrokerSettings, shutdown: CancellationToken) -> (Self, JoinHandle<()>) {
        let broker = Broker::default();
        let handle = tokio::spawn(supervise(broker.clone(), settings, shutdown));
        (broker, handle)
    }

    /// True while a publisher is available.
    pub fn is_connected(&self) -> bool {
        self.current().is_some_and(|p| p.is_connected())
    }

    fn current(&self) -> Option<Publisher> {
        self.publisher.read().ok().and_then(|guard| guard.clone())
    }

    fn set(&self, publisher: Option<Publisher>) {
        if let Ok(mut guard) = self.publisher.write() {
            *guard = publisher;
        }
    }

    /// Publishes a job and waits (at most 5 s) for the broker's confirm.
    pub async fn publish_job(
        &self,
        msg: &JobMessage,
        props: &JobProperties,
    ) -> Result<(), PublishError> {
        let publisher = self.current().ok_or(PublishError::NotConnected)?;
        match tokio::time::timeout(Duration::from_secs(5), publisher.publish_job(msg, props)).await
        {
            Ok(result) => Ok(result?),
            Err(_) => Err(PublishError::TimedOut),
        }
    }
}

impl Broker {
    /// Messages in the dead-letter queue; `None` while not connected or
    /// when the broker does not answer within 2 s.
    pub async fn dead_letter_count(&self) -> Option<u32> {
        let publisher = self.current()?;
        tokio::time::timeout(Duration::from_secs(2), publisher.dead_letter_count())
            .await
            .ok()?
            .inspect_err(|err| tracing::warn!(error = %err, "cannot count dead letters"))
            .ok()
    }

    /// Publishes a control job to `worker_id`'s own queue and waits (at most
    /// 5 s) for the confirm; a worker that is gone makes it
    /// [`QueueError::Unroutable`].
    pub async fn publish_to_worker(
        &self,
        msg: &JobMessage,
        props: &JobProperties,
        worker_id: &str,
    ) -> Result<(), PublishError> {
        let publisher = self.current().ok_or(PublishError::NotConnected)?;
        let publish = publisher.publish_to_worker(msg, props, worker_id);
        match tokio::time::timeout(Duration::from_secs(5), publish).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(PublishError::TimedOut),
        }
    }
}

async fn supervise(broker: Broker, settings: BrokerSettings, shutdown: CancellationToken) {
    let mut backoff = connect::reconnect_backoff();
    loop {
        match connect_once(&settings).await {
            Ok((connection, publisher)) => {
                tracing::info!(amqp.connection = %settings.connection_name, "connected to rabbitmq");
                broker.set(Some(publisher.clone()));
                backoff = connect::reconnect_backoff();
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => {
                            broker.set(None);
                            let closing = connection.close(200, "shutdown".into());
                            if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
                                tracing::warn!("closing the rabbitmq connection timed out");
                            }
                            return;
                        }
                        () = tokio::time::sleep(Duration::from_millis(250)) => {}
                    }
                    if !connection.status().connected() || !publisher.is_connected() {
                        tracing::warn!("lost the rabbitmq connection; reconnecting");
                        broker.set(None);
                        break;
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot connect to rabbitmq; retrying");
            }
        }
        let delay = backoff.next().unwrap_or(Duration::from_secs(5));
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

async fn connect_once(
    settings: &BrokerSettings,
) -> Result<(agent_runner_queue::lapin::Connection, Publisher), QueueError> {
    let session = connect::open_session(
        &settings.broker,
        &settings.connection_name,
        &settings.names,
        &settings.tiers,
        settings.delivery_limit,
        "agent-runner-api",
    )
    .await?;
    let _closed = session.channel.close(200, "topology declared".into()).await;
    Ok((session.connection, session.publisher))
}

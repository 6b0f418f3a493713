//! The consume loop and its reconnect supervisor.
//!
//! Connect (connection name `agent-runner-worker@<worker id>`), declare the
//! topology, set the prefetch to the concurrency, consume the work queue with
//! the consumer tag `worker-<worker id>` and the worker's own control queue
//! with `worker-<worker id>-control`, and spawn a task per delivery. When the
//! connection drops or the stream ends, reconnect with backoff; in-flight
//! runs keep executing and their acks, if the channel is gone, simply mean
//! redelivery (the claim then drops the duplicate).

use crate::delivery::Handler;
use crate::execution::Executor;
use crate::run_requests::RunRequestHandler;
use agent_runner_queue::lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions,
};
use agent_runner_queue::lapin::types::FieldTable;
use agent_runner_queue::lapin::{Channel, Connection};
use agent_runner_queue::{
    BrokerAddress, Names, Publisher, QueueError, RetryTiers, connect, topology,
};
use futures_util::StreamExt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How to reach and consume the work queue.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// The broker and how to trust it.
    pub broker: BrokerAddress,
    /// Names under the prefix.
    pub names: Names,
    /// Retry tiers.
    pub tiers: RetryTiers,
    /// Work-queue delivery limit.
    pub delivery_limit: i64,
    /// Worker id.
    pub worker_id: String,
    /// Prefetch.
    pub concurrency: u16,
    /// Lease length in seconds.
    pub lease_s: f64,
}

/// Consumes until `stop_consuming` fires; deliveries run on `tasks`.
/// Returns the connection so in-flight runs can still ack on it.
pub async fn run(
    settings: ConsumerSettings,
    executor: Executor,
    control: RunRequestHandler,
    tasks: TaskTracker,
    stop_consuming: CancellationToken,
) -> Option<Connection> {
    let mut backoff = connect::reconnect_backoff();
    loop {
        match open(&settings).await {
            Ok((connection, channel, publisher)) => {
                backoff = connect::reconnect_backoff();
                let handler = Handler {
                    state: executor.state.clone(),
                    executor: executor.clone(),
                    publisher,
                    worker_id: settings.worker_id.clone(),
                    lease_s: settings.lease_s,
                };
                let handlers = Handlers {
                    work: handler,
                    control: control.clone(),
                };
                let stopped = consume(
                    &settings,
                    &connection,
                    &channel,
                    handlers,
                    &tasks,
                    &stop_consuming,
                )
                .await;
                if stopped {
                    return Some(connection);
                }
                tracing::warn!("lost the rabbitmq connection; reconnecting");
            }
            Err(err) => tracing::warn!(error = %err, "cannot connect to rabbitmq; retrying"),
        }
        let delay = backoff.next().unwrap_or(Duration::from_secs(5));
        tokio::select! {
            () = stop_consuming.cancelled() => return None,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

async fn open(settings: &ConsumerSettings) -> Result<(Connection, Channel, Publisher), QueueError> {
    let name = format!("agent-runner-worker@{}", settings.worker_id);
    let connect::Session {
        connection,
        channel,
        publisher,
    } = connect::open_session(
        &settings.broker,
        &name,
        &settings.names,
        &settings.tiers,
        settings.delivery_limit,
        "agent-runner-worker",
    )
    .await?;
    topology::declare_worker_queue(&channel, &settings.names, &settings.worker_id).await?;
    // prefetch = concurrency, per consumer: the broker never hands us more
    // unacked runs (and, separately, more control jobs) than that.
    channel
        .basic_qos(settings.concurrency, BasicQosOptions::default())
        .await?;
    Ok((connection, channel, publisher))
}

/// The handlers of the two queues a worker consumes.
struct Handlers {
    work: Handler,
    control: RunRequestHandler,
}

/// Returns true when stopped on request, false when the connection failed.
async fn consume(
    settings: &ConsumerSettings,
    connection: &Connection,
    channel: &Channel,
    handlers: Handlers,
    tasks: &TaskTracker,
    stop_consuming: &CancellationToken,
) -> bool {
    let tag = format!("worker-{}", settings.worker_id);
    let control_tag = format!("worker-{}-control", settings.worker_id);
    let consumers = async {
        let work = channel
            .basic_consume(
                settings.names.work_queue().as_str().into(),
                tag.as_str().into(),
                // no_ack: false — we ack by hand after committing the run's state.
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let control = channel
            .basic_consume(
                settings
                    .names
                    .worker_queue(&settings.worker_id)
                    .as_str()
                    .into(),
                control_tag.as_str().into(),
                // no_ack: false — acked once the request's answer is recorded.
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok::<_, agent_runner_queue::lapin::Error>((work, control))
    };
    let (mut consumer, mut control) = match consumers.await {
        Ok(consumers) => consumers,
        Err(err) => {
            tracing::warn!(error = %err, "cannot start consuming");
            return false;
        }
    };
    tracing::info!(worker.id = %settings.worker_id, consumer.tag = %tag, "consuming");
    loop {
        tokio::select! {
            () = stop_consuming.cancelled() => {
                let _cancelled = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await;
                let _cancelled = channel.basic_cancel(control_tag.as_str().into(), BasicCancelOptions::default()).await;
                tracing::info!("stopped consuming");
                return true;
            }
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let handler = handlers.work.clone();
                    tasks.spawn(async move { handler.handle(delivery).await });
                }
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "consumer failed");
                    return false;
                }
                None => return false,
            },
            next = control.next() => match next {
                Some(Ok(delivery)) => {
                    let handler = handlers.control.clone();
                    tasks.spawn(async move { handler.handle(delivery).await });
                }
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "control consumer failed");
                    return false;
                }
                None => return false,
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if !connection.status().connected() || !channel.status().connected() {
                    return false;
                }
            }
        }
    }
}

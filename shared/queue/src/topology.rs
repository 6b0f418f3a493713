//! Idempotent declaration of the topology, run by the api and every worker at
//! (re)connect:
//!
//! ```text
//! <p>.work (direct) ──run──▶ <p>.work (quorum, delivery-limit, DLX <p>.dead)
//! <p>.retry.<ms>ms (TTL <ms>, DLX <p>.work/run)   ← delayed retries
//! <p>.dead (fanout) ──▶ <p>.dead                    ← dead letters, with a reason
//! <p>.direct (direct) ──<worker id>──▶ <p>.worker.<worker id>  ← control jobs
//! ```
//!
//! The per-worker queues are declared by their worker ([`declare_worker_queue`]):
//! exclusive and auto-delete, they live exactly as long as the worker's
//! connection, so a control job for a worker that is gone is unroutable and
//! its (mandatory) publish fails instead of waiting for nobody.

use crate::names::{Names, WORK_ROUTING_KEY};
use crate::{QueueError, RetryTiers};
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

/// Deliveries of one message after which the quorum queue dead-letters it:
/// a guard against messages that crash the worker process itself.
pub const DEFAULT_DELIVERY_LIMIT: i64 = 5;

/// Declares every exchange and queue; safe to call again at any time.
pub async fn declare(
    channel: &Channel,
    names: &Names,
    tiers: &RetryTiers,
    delivery_limit: i64,
) -> Result<(), QueueError> {
    // durable: the exchange survives a broker restart.
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    // durable: queue metadata and persistent messages survive a restart.
    let durable_queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };

    channel
        .exchange_declare(
            names.work_exchange().as_str().into(),
            ExchangeKind::Direct,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            names.direct_exchange().as_str().into(),
            ExchangeKind::Direct,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            names.dead_exchange().as_str().into(),
            ExchangeKind::Fanout,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;

    let mut dead_args = FieldTable::default();
    dead_args.insert("x-queue-type".into(), string("quorum"));
    channel
        .queue_declare(names.dead_queue().as_str().into(), durable_queue, dead_args)
        .await?;
    channel
        .queue_bind(
            names.dead_queue().as_str().into(),
            names.dead_exchange().as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let mut work_args = FieldTable::default();
    // Quorum: replicated, and it counts deliveries (x-delivery-count).
    work_args.insert("x-queue-type".into(), string("quorum"));
    // After this many deliveries (crashes, requeues) the message is dead-lettered.
    work_args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(delivery_limit),
    );
    work_args.insert(
        "x-dead-letter-exchange".into(),
        string(&names.dead_exchange()),
    );
    channel
        .queue_declare(names.work_queue().as_str().into(), durable_queue, work_args)
        .await?;
    channel
        .queue_bind(
            names.work_queue().as_str().into(),
            names.work_exchange().as_str().into(),
            WORK_ROUTING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    for &delay_ms in tiers.delays_ms() {
        let mut args = FieldTable::default();
        // Every message waits exactly the tier's delay...
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(delay_ms as i64),
        );
        // ...then is dead-lettered back onto the work exchange as a job.
        args.insert(
            "x-dead-letter-exchange".into(),
            string(&names.work_exchange()),
        );
        args.insert("x-dead-letter-routing-key".into(), string(WORK_ROUTING_KEY));
        channel
            .queue_declare(
                names.retry_queue(delay_ms).as_str().into(),
                durable_queue,
                args,
            )
            .await?;
    }
    Ok(())
}

/// Declares `worker_id`'s own queue and binds it to the direct exchange;
/// returns the queue name. Call on the connection that consumes it.
pub async fn declare_worker_queue(
    channel: &Channel,
    names: &Names,
    worker_id: &str,
) -> Result<String, QueueError> {
    let queue = names.worker_queue(worker_id);
    // exclusive: only this connection may use it, and it is deleted when the
    // connection closes; auto_delete: also when its last consumer goes.
    // Not durable: control jobs are answered within seconds or not at all.
    let options = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.as_str().into(), options, FieldTable::default())
        .await?;
    channel
        .queue_bind(
            queue.as_str().into(),
            names.direct_exchange().as_str().into(),
            worker_id.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(queue)
}

fn string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

//! The api's Prometheus metrics, in a registry of their own.
//!
//! Counters move where the api acts (a run accepted, cancelled, retried; a
//! request answered). Gauges describing state outside the process (the
//! outbox backlog, the pool, the broker link) are refreshed on each scrape,
//! so they are as fresh as the scrape and cost nothing between scrapes.

use crate::background::broker::Broker;
use crate::routes::workers::STALE_AFTER_S;
use agent_runner_store::{Pool, outbox, waiting};
use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::time::Duration;

/// How long a scrape waits for the outbox count before keeping the last value.
const BACKLOG_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// Every metric the api exposes on `/metrics`.
#[derive(Clone)]
pub struct ApiMetrics {
    registry: Registry,
    /// Runs accepted (201, not idempotent replays), by agent kind.
    pub runs_submitted: IntCounterVec,
    /// Cancel requests that took effect, by outcome (`cancelled`, `requested`) and agent.
    pub runs_cancelled: IntCounterVec,
    /// Runs re-queued through `POST /v1/runs/{id}/retry`, by agent kind.
    pub runs_retried: IntCounterVec,
    /// RUNNING runs marked RUN_STALLED (silent for `STALL_AFTER_S`).
    pub runs_stalled: IntCounter,
    /// Requests answered, by route template, method and status.
    pub http_requests: IntCounterVec,
    /// Time to the response head, by route template and method.
    pub http_duration: HistogramVec,
    outbox_backlog: IntGauge,
    runs_waiting: IntGaugeVec,
    pool_max_size: IntGauge,
    pool_size: IntGauge,
    pool_available: IntGauge,
    pool_waiting: IntGauge,
    broker_connected: IntGauge,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid metric definition")
}

impl ApiMetrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let metrics = Self {
            registry: Registry::new(),
            runs_submitted: counter(
                "agent_runner_runs_submitted_total",
                "Runs accepted by the api",
                &["agent"],
            ),
            runs_cancelled: counter(
                "agent_runner_runs_cancelled_total",
                "Cancel requests that took effect: cancelled at once, or requested from the worker",
                &["outcome", "agent"],
            ),
            runs_retried: counter(
                "agent_runner_runs_retried_total",
                "FAILED or CANCELLED runs queued again through the api",
                &["agent"],
            ),
            runs_stalled: IntCounter::new(
                "agent_runner_runs_stalled_total",
                "RUNNING runs that emitted no event for STALL_AFTER_S and were marked RUN_STALLED",
            )
            .expect("valid metric definition"),
            http_requests: counter(
                "agent_runner_http_requests_total",
                "HTTP requests answered, by route template",
                &["route", "method", "status"],
            ),
            http_duration: HistogramVec::new(
                HistogramOpts::new(
                    "agent_runner_http_request_duration_seconds",
                    "Time from request to response head, by route template",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ]),
                &["route", "method"],
            )
            .expect("valid metric definition"),
            runs_waiting: IntGaugeVec::new(
                Opts::new(
                    "agent_runner_runs_waiting",
                    "Runs waiting, by why: queued, no_worker, retry_backoff, awaiting_approval; rate_limit (RUNNING, its model call waits for the shared allowance)",
                ),
                &["reason"],
            )
            .expect("valid metric definition"),
            outbox_backlog: gauge(
                "agent_runner_outbox_backlog",
                "Outbox rows not yet published to RabbitMQ",
            ),
            pool_max_size: gauge(
                "agent_runner_db_pool_max_size",
                "Most connections the Postgres pool may open (DB_POOL_SIZE)",
            ),
            pool_size: gauge(
                "agent_runner_db_pool_size",
                "Connections open in the Postgres pool",
            ),
            pool_available: gauge(
                "agent_runner_db_pool_available",
                "Idle connections in the Postgres pool",
            ),
            pool_waiting: gauge(
                "agent_runner_db_pool_waiting",
                "Tasks waiting for a Postgres connection",
            ),
            broker_connected: gauge(
                "agent_runner_broker_connected",
                "1 while the api holds a confirm-mode channel to RabbitMQ, else 0",
            ),
        };
        let collectors: [Box<dyn Collector>; 13] = [
            Box::new(metrics.runs_waiting.clone()),
            Box::new(metrics.runs_submitted.clone()),
            Box::new(metrics.runs_stalled.clone()),
            Box::new(metrics.runs_cancelled.clone()),
            Box::new(metrics.runs_retried.clone()),
            Box::new(metrics.http_requests.clone()),
            Box::new(metrics.http_duration.clone()),
            Box::new(metrics.outbox_backlog.clone()),
            Box::new(metrics.pool_max_size.clone()),
            Box::new(metrics.pool_size.clone()),
            Box::new(metrics.pool_available.clone()),
            Box::new(metrics.pool_waiting.clone()),
            Box::new(metrics.broker_connected.clone()),
        ];
        for collector in collectors {
            metrics
                .registry
                .register(collector)
                .expect("unique metric names");
        }
        metrics
    }

    /// Refreshes the gauges from the pool, the broker link and the outbox.
    /// A database that does not answer leaves the last backlog value.
    pub async fn refresh(&self, pool: &Pool, broker: &Broker) {
        let status = pool.status();
        self.pool_max_size.set(gauge_value(status.max_size));
        self.pool_size.set(gauge_value(status.size));
        self.pool_available.set(gauge_value(status.available));
        self.pool_waiting.set(gauge_value(status.waiting));
        self.broker_connected.set(i64::from(broker.is_connected()));
        match tokio::time::timeout(BACKLOG_QUERY_TIMEOUT, outbox::backlog(pool)).await {
            Ok(Ok(backlog)) => self.outbox_backlog.set(backlog),
            Ok(Err(err)) => tracing::debug!(error = %err, "cannot count the outbox backlog"),
            Err(_) => tracing::debug!("counting the outbox backlog timed out"),
        }
        let counting = waiting::counts(pool, STALE_AFTER_S);
        match tokio::time::timeout(BACKLOG_QUERY_TIMEOUT, counting).await {
            Ok(Ok(counts)) => {
                for (reason, n) in counts {
                    self.runs_waiting.with_label_values(&[reason]).set(n);
                }
            }
            Ok(Err(err)) => tracing::debug!(error = %err, "cannot count the waiting runs"),
            Err(_) => tracing::debug!("counting the waiting runs timed out"),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let _encoded = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

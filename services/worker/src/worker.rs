//! Wiring of a worker process and its shutdown.
//!
//! SIGTERM (or whatever future the caller passes) means: stop consuming, let
//! in-flight runs finish within `SHUTDOWN_GRACE_S`, then stop what is left —
//! those runs are handed back (RETRYING, delivery requeued) — and return.

use crate::config::WorkerConfig;
use crate::consumer::{self, ConsumerSettings};
use crate::db_retry::with_db_retry;
use crate::execution::Executor;
use crate::inflight::{InFlight, StopReason};
use crate::review::{ReviewSettings, Reviewer};
use crate::run_requests::RunRequestHandler;
use crate::state::WorkerState;
use crate::{cancel_listener, heartbeat, http};
use agent_runner_agent::AgentRegistry;
use agent_runner_queue::{Names, RetryTiers};
use agent_runner_store::{Pool, pool, workers};
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Longest wait for each shutdown step after the in-flight runs: stopping
/// the consumer, deregistering, the background tasks, closing the broker
/// connection. A stuck step never keeps the process from exiting.
const STOP_STEP: Duration = Duration::from_secs(5);

/// How long start-up waits for the cancel listener before consuming.
const LISTEN_WAIT: Duration = Duration::from_secs(10);

/// How long the runs still executing when the grace period ends get to be
/// handed back to RabbitMQ. (`scripts/validate_deploy/rust_sources.py`
/// reads this and [`STOP_STEP`] to check the manifests' termination grace
/// periods.)
const HAND_BACK_WAIT: Duration = Duration::from_secs(10);

/// Binds the probe and metrics port. When `WORKER_METRICS_ADDR` is not set
/// and its default port is taken (a second worker on the host), a free port
/// on the same address is used and logged; it shows in `/v1/workers`. A
/// port set explicitly and taken stops start-up naming the variable.
async fn bind_probe(config: &WorkerConfig) -> anyhow::Result<TcpListener> {
    let addr = config.metrics_addr;
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(listener),
        Err(err) if !config.metrics_addr_set && err.kind() == std::io::ErrorKind::AddrInUse => {
            let listener = TcpListener::bind(SocketAddr::new(addr.ip(), 0))
                .await
                .with_context(|| format!("cannot listen on {} (any port)", addr.ip()))?;
            let bound = listener.local_addr().unwrap_or(addr);
            tracing::warn!(
                default = %addr,
                metrics.addr = %bound,
                "WORKER_METRICS_ADDR is not set and its default port is taken (another worker on this host?); serving /healthz and /metrics on a free port"
            );
            Ok(listener)
        }
        Err(err) => {
            Err(anyhow::Error::new(err)
                .context(format!("cannot listen on WORKER_METRICS_ADDR {addr}")))
        }
    }
}

/// A built, not yet running, worker.
pub struct Worker {
    config: WorkerConfig,
    pool: Pool,
    agents: AgentRegistry,
    review: Option<ReviewSettings>,
    probe_listener: TcpListener,
}

impl Worker {
    /// Binds the probe port and prepares the pool (connections open lazily).
    pub async fn build(config: WorkerConfig, agents: AgentRegistry) -> anyhow::Result<Self> {
        let probe_listener = bind_probe(&config).await?;
        let pool = pool::connect(&config.database_url, config.db_pool_size)
            .context("invalid DATABASE_URL")?;
        Ok(Self {
            config,
            pool,
            agents,
            review: None,
            probe_listener,
        })
    }

    /// Lets this worker answer review and exec requests on the worktrees
    /// under `settings.workspace_root` (those its `llm` agent keeps).
    pub fn with_review(mut self, settings: ReviewSettings) -> Self {
        self.review = Some(settings);
        self
    }

    /// The probe address actually bound.
    pub fn probe_addr(&self) -> SocketAddr {
        self.probe_listener
            .local_addr()
            .unwrap_or(self.config.metrics_addr)
    }

    /// Runs until `shutdown` resolves, then shuts down gracefully.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let metrics_addr = self.probe_addr().to_string();
        // Probed once here, so that start-up logs it and /v1/workers shows it.
        let sandbox = match &self.review {
            Some(review) => Some(review.sandbox.level().await.to_string()),
            None => None,
        };
        let config = self.config;
        let worker_id = config.worker_id.clone();
        let hostname = agent_runner_config::hostname();
        let concurrency = i32::from(config.concurrency);
        with_db_retry(|| {
            workers::register(
                &self.pool,
                &worker_id,
                &hostname,
                concurrency,
                &metrics_addr,
                sandbox.as_deref(),
                config.lease.as_secs_f64(),
            )
        })
        .await
        .context("cannot register the worker")?;

        let background = CancellationToken::new();
        let inflight = InFlight::default();
        let lease_s = config.lease.as_secs_f64();
        let run_lease_s = config.run_lease.as_secs_f64();
        let (listening_tx, listening) = tokio::sync::watch::channel(false);
        let mut handles = vec![
            tokio::spawn(heartbeat::run(
                self.pool.clone(),
                worker_id.clone(),
                inflight.clone(),
                config.heartbeat,
                heartbeat::Leases {
                    worker_s: lease_s,
                    run_s: run_lease_s,
                },
                background.child_token(),
            )),
            tokio::spawn(cancel_listener::run(
                config.database_url.clone(),
                inflight.clone(),
                background.child_token(),
                listening_tx,
            )),
        ];
        let metrics = crate::metrics::WorkerMetrics::new();
        let probe_stop = background.child_token();
        let probe_router = http::router(metrics.clone());
        handles.push(tokio::spawn(async move {
            let serve = axum::serve(self.probe_listener, probe_router)
                .with_graceful_shutdown(probe_stop.cancelled_owned());
            if let Err(err) = serve.await {
                tracing::warn!(error = %err, "probe server failed");
            }
        }));

        let tiers = RetryTiers::doubling(config.retry_base_ms, config.retry_tiers);
        let executor = Executor {
            state: WorkerState {
                pool: self.pool.clone(),
                tiers: tiers.clone(),
                metrics,
                writes: crate::writes::Writes::start(self.pool.clone(), &worker_id, run_lease_s),
            },
            agents: self.agents,
            inflight: inflight.clone(),
        };
        let settings = ConsumerSettings {
            broker: config.broker.clone(),
            names: Names::new(config.queue_prefix.clone()),
            tiers,
            delivery_limit: config.delivery_limit,
            worker_id: worker_id.clone(),
            concurrency: config.concurrency,
            lease_s,
        };
        // Consume only once cancel requests can reach this worker's runs.
        wait_until_listening(listening).await;
        let hard_stop = CancellationToken::new();
        let control = RunRequestHandler {
            reviewer: Reviewer {
                pool: self.pool.clone(),
                settings: self.review,
                worker_id: worker_id.clone(),
                hard_stop: hard_stop.clone(),
            },
        };
        let tasks = TaskTracker::new();
        let stop_consuming = CancellationToken::new();
        let consuming = tokio::spawn(consumer::run(
            settings,
            executor,
            control,
            tasks.clone(),
            stop_consuming.clone(),
        ));

        shutdown.await;
        tracing::info!(worker.id = %worker_id, in_flight = inflight.len(), "shutting down: no new runs");
        stop_consuming.cancel();
        let connection = match tokio::time::timeout(STOP_STEP, consuming).await {
            Ok(joined) => joined.ok().flatten(),
            Err(_) => {
                tracing::warn!("the consumer did not stop in time; carrying on");
                None
            }
        };
        tasks.close();
        if tokio::time::timeout(config.shutdown_grace, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = inflight.len(),
                "grace period over; handing the remaining runs back"
            );
            inflight.stop_all(StopReason::Shutdown);
            hard_stop.cancel();
            let _drained = tokio::time::timeout(HAND_BACK_WAIT, tasks.wait()).await;
        }
        match tokio::time::timeout(STOP_STEP, workers::deregister(&self.pool, &worker_id)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "cannot deregister the worker"),
            Err(_) => tracing::warn!("deregistering the worker timed out"),
        }
        background.cancel();
        if tokio::time::timeout(STOP_STEP, futures_util::future::join_all(handles))
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop in time; carrying on");
        }
        if let Some(connection) = connection {
            let closing = connection.close(200, "worker shutdown".into());
            if tokio::time::timeout(STOP_STEP, closing).await.is_err() {
                tracing::warn!("closing the rabbitmq connection timed out");
            }
        }
        tracing::info!(worker.id = %worker_id, "worker stopped");
        Ok(())
    }
}

/// Waits, up to [`LISTEN_WAIT`], for the cancel listener's `LISTEN`; past
/// that the worker starts anyway and the heartbeat relays cancel requests
/// until the listener connects.
async fn wait_until_listening(mut listening: tokio::sync::watch::Receiver<bool>) {
    let waited = tokio::time::timeout(LISTEN_WAIT, listening.wait_for(|listening| *listening));
    if !matches!(waited.await, Ok(Ok(_))) {
        tracing::warn!(
            wait_s = LISTEN_WAIT.as_secs(),
            "the cancel listener is not listening yet; consuming anyway (the heartbeat relays cancel requests meanwhile)"
        );
    }
}

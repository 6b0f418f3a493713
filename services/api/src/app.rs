//! Building and running the api: `Application::build(config)` binds the
//! listener (port 0 picks a free one) and starts the broker supervisor, the
//! outbox relay, the sent-marking task, the event streams' poller and the
//! reaper; `run_until_stopped(shutdown)` serves until
//! the shutdown future resolves, then drains in-flight requests within the
//! grace period.

use crate::background::broker::{Broker, BrokerSettings};
use crate::background::reaper;
use crate::background::run_watch::RunWatch;
use crate::background::scheduler::Scheduler;
use crate::config::ApiConfig;
use crate::http::auth_throttle::AuthThrottle;
use crate::http::serve::{self, ConnectionLimits};
use crate::metrics::ApiMetrics;
use crate::outbox::relay::{self, RelayWaker};
use crate::outbox::sent_marks::SentMarks;
use crate::routes;
use crate::routes::workers::STALE_AFTER_S;
use crate::state::AppState;
use agent_runner_queue::{Names, RetryTiers};
use agent_runner_store::pool;
use agent_runner_store::reaper::Bounds;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the runs that event streams follow are polled.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// A built, not yet serving, api.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    background: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    grace: Duration,
}

impl Application {
    /// Binds the listener and starts the background tasks. Succeeds while
    /// Postgres or RabbitMQ are down: requests then get 503 until they return.
    pub async fn build(config: ApiConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on API_ADDR {}", config.addr))?;
        let pool = pool::connect(&config.database_url, config.db_pool_size)
            .context("invalid DATABASE_URL")?;
        let background = CancellationToken::new();
        let settings = BrokerSettings {
            broker: config.broker.clone(),
            names: Names::new(config.queue_prefix.clone()),
            tiers: RetryTiers::doubling(config.retry_base_ms, config.retry_tiers),
            delivery_limit: config.delivery_limit,
            connection_name: format!("agent-runner-api@{}", agent_runner_config::hostname()),
        };
        let (broker, broker_task) = Broker::start(settings, background.child_token());
        let waker = RelayWaker::default();
        let relay_task = tokio::spawn(relay::run(
            pool.clone(),
            broker.clone(),
            waker.clone(),
            Duration::from_millis(config.relay_interval_ms),
            background.child_token(),
        ));
        let metrics = ApiMetrics::new();
        let reaper_task = tokio::spawn(reaper::run(
            pool.clone(),
            Bounds {
                lease_grace_s: config.reaper_lease_grace_s as f64,
                queued_after_s: config.reaper_queued_after_s as f64,
                batch: 500,
            },
            reaper::Stalls {
                after_s: config.stall_after_s as f64,
                marked: metrics.runs_stalled.clone(),
            },
            Duration::from_millis(config.reaper_interval_ms),
            waker.clone(),
            background.child_token(),
        ));
        let (sent, sent_task) = SentMarks::start(pool.clone(), background.child_token());
        let scheduler_task = tokio::spawn(
            Scheduler {
                pool: pool.clone(),
                default_limit: config.default_max_concurrent_runs,
                fair_share: config.fair_share,
                worker_stale_s: STALE_AFTER_S,
                interval: Duration::from_millis(config.scheduler_interval_ms),
                broker: broker.clone(),
                sent: sent.clone(),
                relay: waker.clone(),
            }
            .run(background.child_token()),
        );
        let (watch, watch_task) =
            RunWatch::start(pool.clone(), WATCH_INTERVAL, background.child_token());
        let grace = Duration::from_secs(config.shutdown_grace_s);
        let state = AppState {
            batches: crate::batches::Batches::start(pool.clone()),
            pool,
            broker,
            relay: waker,
            sent,
            watch,
            auth_throttle: Arc::new(AuthThrottle::new(config.auth_failures_per_minute)),
            config: Arc::new(config),
            metrics,
        };
        Ok(Self {
            listener,
            state,
            background,
            tasks: vec![
                broker_task,
                relay_task,
                reaper_task,
                scheduler_task,
                sent_task,
                watch_task,
            ],
            grace,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.config.addr)
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until `shutdown` resolves, then stops accepting, gives
    /// in-flight requests the grace period and stops the background tasks.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(self.state.config.header_read_timeout_s),
        };
        let router = routes::router(self.state);
        let stopping = CancellationToken::new();
        let signal = stopping.clone();
        tokio::spawn(async move {
            shutdown.await;
            signal.cancel();
        });
        tracing::info!(api.addr = %addr, "api listening");
        let serve = serve::serve(self.listener, router, limits, stopping.clone());
        let grace = self.grace;
        tokio::select! {
            () = serve => {},
            () = async { stopping.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_s = grace.as_secs(), "requests still in flight after the grace period");
            }
        }
        self.background.cancel();
        for task in self.tasks {
            let _joined = task.await;
        }
        tracing::info!("api stopped");
        Ok(())
    }
}

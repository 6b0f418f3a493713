//! Shared handler state: cheap clonable handles, no run state.

use crate::background::broker::Broker;
use crate::background::run_watch::RunWatch;
use crate::batches::Batches;
use crate::config::ApiConfig;
use crate::http::auth_throttle::AuthThrottle;
use crate::metrics::ApiMetrics;
use crate::outbox::relay::RelayWaker;
use crate::outbox::sent_marks::SentMarks;
use agent_runner_store::Pool;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Postgres pool.
    pub pool: Pool,
    /// Submissions and token checks, many per statement.
    pub batches: Batches,
    /// RabbitMQ link.
    pub broker: Broker,
    /// Wakes the outbox relay when a fast-path publish failed.
    pub relay: RelayWaker,
    /// Marks published outbox rows sent, in batches.
    pub sent: SentMarks,
    /// Progress of the runs open event streams follow.
    pub watch: RunWatch,
    /// Settings.
    pub config: Arc<ApiConfig>,
    /// Prometheus metrics.
    pub metrics: ApiMetrics,
    /// Failed authentications per client address.
    pub auth_throttle: Arc<AuthThrottle>,
}

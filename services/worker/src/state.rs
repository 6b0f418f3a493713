//! What the parts of a worker share: the database pool, the worker's
//! metrics and the retry tiers. Cheap to clone; built once by
//! [`crate::Worker`] and handed to each part that needs it.

use crate::metrics::WorkerMetrics;
use agent_runner_queue::RetryTiers;
use agent_runner_store::Pool;

/// A worker's shared handles.
#[derive(Clone)]
pub struct WorkerState {
    /// Postgres pool.
    pub pool: Pool,
    /// Prometheus metrics.
    pub metrics: WorkerMetrics,
    /// Retry delay tiers.
    pub tiers: RetryTiers,
}

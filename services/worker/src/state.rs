//! What the parts of a worker share: the database pool, the worker's
//! metrics, the retry tiers and the batched claims and endings. Cheap to clone; built once by
//! [`crate::Worker`] and handed to each part that needs it.

use crate::metrics::WorkerMetrics;
use crate::writes::Writes;
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
    /// Claims and endings, batched.
    pub writes: Writes,
}

//! The event sink an agent writes to: every event is fenced by the attempt,
//! so a stale attempt learns at its next write that it lost the run.

use agent_runner_agent::{EmitError, EventSink};
use agent_runner_domain::EventKind;
use agent_runner_store::{Pool, claim};
use futures_util::future::BoxFuture;
use serde_json::Value;
use uuid::Uuid;

/// Writes events for one attempt of one run.
pub struct FencedSink {
    /// Postgres pool.
    pub pool: Pool,
    /// The run.
    pub run_id: Uuid,
    /// The attempt that owns the writes.
    pub attempt: i32,
}

impl EventSink for FencedSink {
    fn emit(&self, kind: EventKind, payload: Value) -> BoxFuture<'_, Result<(), EmitError>> {
        Box::pin(async move {
            match claim::append_event(&self.pool, self.run_id, self.attempt, kind, &payload).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(EmitError::Fenced),
                Err(err) => Err(EmitError::Unavailable(err.to_string())),
            }
        })
    }
}

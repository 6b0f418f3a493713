//! The run timeline: dense `seq` per run, allocated from `runs.last_seq` in
//! the same statement that inserts the event, so concurrent writers can
//! never produce a gap or a duplicate.

use crate::StoreError;
use agent_runner_domain::EventKind;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// One timeline event.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Event {
    /// Position in the run's timeline, from 1, without gaps.
    pub seq: i32,
    /// The attempt that wrote it (0 for api-side events before any attempt).
    pub attempt: i32,
    /// Event kind (upper-case).
    pub kind: String,
    /// Kind-specific details.
    pub payload: Value,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// Appends an event to a run's timeline, attributed to the run's current
/// attempt, with no fencing (api-side writes). Returns the seq, or `None`
/// when the run does not exist.
pub(crate) async fn insert_event(
    client: &impl GenericClient,
    run_id: Uuid,
    kind: EventKind,
    payload: &Value,
) -> Result<Option<i32>, StoreError> {
    let row = client
        .query_opt(
            "WITH r AS (UPDATE runs SET last_seq = last_seq + 1 WHERE id = $1
                        RETURNING id, last_seq, attempt)
             INSERT INTO events (run_id, seq, attempt, kind, payload)
             SELECT id, last_seq, attempt, $2, $3 FROM r RETURNING seq",
            &[&run_id, &kind.as_str(), payload],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Reads up to `limit` events with `seq > after`, in order.
pub async fn list(
    pool: &Pool,
    run_id: Uuid,
    after: i32,
    limit: i64,
) -> Result<Vec<Event>, StoreError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT seq, attempt, kind, payload, created_at FROM events
             WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .await?;
    let rows = client.query(&statement, &[&run_id, &after, &limit]).await?;
    Ok(rows
        .iter()
        .map(|r| Event {
            seq: r.get(0),
            attempt: r.get(1),
            kind: r.get(2),
            payload: r.get(3),
            created_at: r.get(4),
        })
        .collect())
}

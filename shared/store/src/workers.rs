//! The `workers` table: who is consuming, how busy, and when last seen.

use crate::StoreError;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;

/// A worker as operators see it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Worker {
    /// Worker id (also in its consumer tag and connection name).
    pub id: String,
    /// Host (or pod) it runs on.
    pub hostname: String,
    /// Process start.
    pub started_at: DateTime<Utc>,
    /// Last heartbeat.
    pub last_heartbeat: DateTime<Utc>,
    /// Prefetch = runs it may execute at once.
    pub concurrency: i32,
    /// Runs executing now.
    pub in_flight: i32,
    /// Where it serves `/healthz` and `/metrics` (`host:port`).
    pub metrics_addr: Option<String>,
    /// Its command sandbox: the active layers (`namespaces,landlock_fs,…`),
    /// `off`, or `unavailable: …`; `None` for a worker without the `llm`
    /// agent.
    pub sandbox: Option<String>,
}

/// Registers (or re-registers) a worker serving its probes on
/// `metrics_addr`, with its command sandbox.
pub async fn register(
    pool: &Pool,
    id: &str,
    hostname: &str,
    concurrency: i32,
    metrics_addr: &str,
    sandbox: Option<&str>,
) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO workers (id, hostname, concurrency, metrics_addr, sandbox)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET hostname = $2, concurrency = $3, metrics_addr = $4,
                 sandbox = $5, started_at = now(), last_heartbeat = now(), in_flight = 0,
                 stopped_at = NULL",
            &[&id, &hostname, &concurrency, &metrics_addr, &sandbox],
        )
        .await?;
    Ok(())
}

/// Records a heartbeat with the current in-flight count.
pub async fn heartbeat(pool: &Pool, id: &str, in_flight: i32) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE workers SET last_heartbeat = now(), in_flight = $2, stopped_at = NULL WHERE id = $1",
            &[&id, &in_flight],
        )
        .await?;
    Ok(())
}

/// Marks a worker stopped (graceful shutdown).
pub async fn deregister(pool: &Pool, id: &str) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE workers SET stopped_at = now(), in_flight = 0 WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(())
}

/// Workers that are running and heartbeated within `stale_s` seconds.
pub async fn list_live(pool: &Pool, stale_s: f64) -> Result<Vec<Worker>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT id, hostname, started_at, last_heartbeat, concurrency, in_flight, metrics_addr,
                    sandbox
             FROM workers
             WHERE stopped_at IS NULL AND last_heartbeat > now() - make_interval(secs => $1)
             ORDER BY id",
            &[&stale_s],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Worker {
            id: r.get(0),
            hostname: r.get(1),
            started_at: r.get(2),
            last_heartbeat: r.get(3),
            concurrency: r.get(4),
            in_flight: r.get(5),
            metrics_addr: r.get(6),
            sandbox: r.get(7),
        })
        .collect())
}

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
/// `metrics_addr`, with its command sandbox, and a worker lease of
/// `lease_s`. A process starting under an id used before holds none of the
/// runs its predecessor did: their run leases end now, so that they can be
/// taken over at once rather than when their (long) run lease runs out.
pub async fn register(
    pool: &Pool,
    id: &str,
    hostname: &str,
    concurrency: i32,
    metrics_addr: &str,
    sandbox: Option<&str>,
    lease_s: f64,
) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client
        .execute(
            "WITH w AS (
                INSERT INTO workers (id, hostname, concurrency, metrics_addr, sandbox, lease_until)
                VALUES ($1, $2, $3, $4, $5, clock_timestamp() + make_interval(secs => $6))
                ON CONFLICT (id) DO UPDATE SET hostname = $2, concurrency = $3, metrics_addr = $4,
                    sandbox = $5, started_at = now(), last_heartbeat = now(), in_flight = 0,
                    stopped_at = NULL, lease_until = EXCLUDED.lease_until
                RETURNING id)
             UPDATE runs SET lease_until = clock_timestamp()
             WHERE status = 'RUNNING' AND worker_id = $1 AND lease_until > clock_timestamp()",
            &[
                &id,
                &hostname,
                &concurrency,
                &metrics_addr,
                &sandbox,
                &lease_s,
            ],
        )
        .await?;
    Ok(())
}

/// Records a heartbeat with the current in-flight count, renewing the
/// worker's lease (which keeps every run it holds alive) for `lease_s`.
pub async fn heartbeat(
    pool: &Pool,
    id: &str,
    in_flight: i32,
    lease_s: f64,
) -> Result<(), StoreError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "UPDATE workers SET last_heartbeat = now(), in_flight = $2, stopped_at = NULL,
                    lease_until = clock_timestamp() + make_interval(secs => $3)
             WHERE id = $1",
        )
        .await?;
    client
        .execute(&statement, &[&id, &in_flight, &lease_s])
        .await?;
    Ok(())
}

/// Marks a worker stopped (graceful shutdown). Its lease ends now: a run it
/// could not hand back is taken over at its next delivery.
pub async fn deregister(pool: &Pool, id: &str) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE workers SET stopped_at = now(), in_flight = 0, lease_until = clock_timestamp()
             WHERE id = $1",
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

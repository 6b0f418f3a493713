//! What the console's overview draws: how many runs are in each status, and
//! per minute of the last hour how many finished and how long they took
//! (from creation to the end, so queueing counts). Read from `runs` alone,
//! within a token's [`Scope`]; the minutes come from `runs_finished_at_idx`.

use crate::StoreError;
use crate::access::Scope;
use agent_runner_domain::RunStatus;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use std::collections::BTreeMap;

/// One minute (or `bucket_s`) of finished runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bucket {
    /// Where the bucket starts.
    pub start: DateTime<Utc>,
    /// Runs that ended in it (any terminal status, or awaiting approval).
    pub finished: i64,
    /// Of those, COMPLETED.
    pub completed: i64,
    /// Of those, FAILED.
    pub failed: i64,
    /// Median time from creation to the end, in milliseconds.
    pub p50_ms: Option<f64>,
    /// 95th percentile of the same.
    pub p95_ms: Option<f64>,
}

/// Runs by status, every status present (0 when none).
pub async fn by_status(
    pool: &Pool,
    scope: Scope<'_>,
) -> Result<BTreeMap<&'static str, i64>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT status, count(*) FROM runs
             WHERE $1::uuid[] IS NULL OR project_id = ANY($1)
             GROUP BY status",
            &[&scope.param()],
        )
        .await?;
    let mut counts: BTreeMap<&'static str, i64> =
        RunStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for row in rows {
        let status: String = row.get(0);
        if let Ok(status) = status.parse::<RunStatus>() {
            counts.insert(status.as_str(), row.get(1));
        }
    }
    Ok(counts)
}

/// The last `window_s` seconds in buckets of `bucket_s`, oldest first,
/// every bucket present (empty ones with zeros).
pub async fn finished_buckets(
    pool: &Pool,
    scope: Scope<'_>,
    window_s: i64,
    bucket_s: i64,
) -> Result<Vec<Bucket>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "WITH bounds AS (
                 SELECT to_timestamp(floor(extract(epoch FROM now())::float8 / $2) * $2 - $1 + $2) AS since
             ),
             slots AS (
                 SELECT generate_series(since, since + make_interval(secs => $1 - $2),
                                        make_interval(secs => $2)) AS start
                 FROM bounds
             ),
             finished AS (
                 SELECT date_bin(make_interval(secs => $2), r.finished_at, b.since) AS start,
                        r.status,
                        extract(epoch FROM r.finished_at - r.created_at)::float8 * 1000 AS ms
                 FROM runs r, bounds b
                 WHERE r.finished_at >= b.since
                   AND ($3::uuid[] IS NULL OR r.project_id = ANY($3))
             )
             SELECT s.start,
                    count(f.start),
                    count(f.start) FILTER (WHERE f.status = 'COMPLETED'),
                    count(f.start) FILTER (WHERE f.status = 'FAILED'),
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY f.ms),
                    percentile_cont(0.95) WITHIN GROUP (ORDER BY f.ms)
             FROM slots s LEFT JOIN finished f ON f.start = s.start
             GROUP BY s.start ORDER BY s.start",
            &[&(window_s as f64), &(bucket_s as f64), &scope.param()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Bucket {
            start: row.get(0),
            finished: row.get(1),
            completed: row.get(2),
            failed: row.get(3),
            p50_ms: row.get(4),
            p95_ms: row.get(5),
        })
        .collect())
}

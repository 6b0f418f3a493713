//! `GET /v1/stats`: what the console's overview draws — runs by status,
//! finished runs and their latency per minute over the last hour, and the
//! dead letters waiting in RabbitMQ. Within the token's projects; the
//! dead-letter count is the broker's, for every project.

use crate::http::auth::Principal;
use crate::http::error::{ApiError, ErrorBody};
use crate::state::AppState;
use agent_runner_store::stats::{self, Bucket};
use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The window the overview covers.
const WINDOW_S: i64 = 3600;
/// The width of one of its buckets.
const BUCKET_S: i64 = 60;

/// `GET /v1/stats` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    /// Seconds covered by `buckets`.
    pub window_s: i64,
    /// Seconds per bucket.
    pub bucket_s: i64,
    /// How many runs are in each status, every status present.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub by_status: BTreeMap<&'static str, i64>,
    /// Finished runs per bucket, oldest first; the last one is still filling.
    #[schema(value_type = Vec<StatsBucket>)]
    pub buckets: Vec<Bucket>,
    /// Messages in the dead-letter queue (every project); `null` while
    /// RabbitMQ is unreachable.
    pub dead_letters: Option<u32>,
}

/// One bucket of [`Stats::buckets`].
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsBucket {
    /// Where the bucket starts (RFC 3339).
    pub start: String,
    /// Runs that ended in it.
    pub finished: i64,
    /// Of those, COMPLETED.
    pub completed: i64,
    /// Of those, FAILED.
    pub failed: i64,
    /// Median milliseconds from creation to the end.
    pub p50_ms: Option<f64>,
    /// 95th percentile of the same.
    pub p95_ms: Option<f64>,
}

/// Runs by status, throughput and latency over the last hour, dead letters.
#[utoipa::path(get, path = "/v1/stats", tag = "runs", security(("bearer" = [])),
    responses((status = 200, body = Stats), (status = 503, description = "Postgres is unavailable", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Stats>, ApiError> {
    let scope = principal.scope();
    let (by_status, buckets, dead_letters) = tokio::join!(
        stats::by_status(&state.pool, scope),
        stats::finished_buckets(&state.pool, scope, WINDOW_S, BUCKET_S),
        state.broker.dead_letter_count(),
    );
    Ok(Json(Stats {
        window_s: WINDOW_S,
        bucket_s: BUCKET_S,
        by_status: by_status?,
        buckets: buckets?,
        dead_letters,
    }))
}

//! `/v1/workers`: live workers and how busy they are.

use crate::http::error::ApiError;
use crate::state::AppState;
use agent_runner_store::workers;
use agent_runner_store::workers::Worker;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

/// A worker silent for longer than this is not listed.
pub(crate) const STALE_AFTER_S: f64 = 30.0;

/// `GET /v1/workers` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerList {
    /// Workers that heartbeated in the last 30 seconds.
    pub workers: Vec<Worker>,
}

/// Workers that heartbeated recently.
#[utoipa::path(get, path = "/v1/workers", tag = "workers", security(("bearer" = [])),
    responses((status = 200, body = WorkerList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<WorkerList>, ApiError> {
    let workers = workers::list_live(&state.pool, STALE_AFTER_S).await?;
    Ok(Json(WorkerList { workers }))
}

//! `/v1/workers`: live workers and how busy they are.

use crate::error::ApiError;
use crate::state::AppState;
use agent_runner_store::workers;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

/// A worker silent for longer than this is not listed.
const STALE_AFTER_S: f64 = 30.0;

/// Workers that heartbeated recently.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let workers = workers::list_live(&state.pool, STALE_AFTER_S).await?;
    Ok(Json(json!({"workers": workers})))
}

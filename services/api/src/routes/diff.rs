//! `GET /v1/runs/{id}/diff`: the diff an `llm` run stored with its result.

use crate::error::ApiError;
use crate::extract::parse_id;
use crate::state::AppState;
use agent_runner_store::runs;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

/// The run's diff, diffstat and branch; 409 when the run has none (yet).
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "run")?;
    let run = runs::get(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no run with id `{id}`")))?;
    let result = run.result.unwrap_or(Value::Null);
    let Some(diff) = result.get("diff").and_then(Value::as_str) else {
        return Err(ApiError::Conflict(format!(
            "run is {} and has no diff (only `llm` runs that finished produce one)",
            run.status
        )));
    };
    Ok(Json(json!({
        "run_id": run.id,
        "status": run.status,
        "branch": result.get("branch"),
        "start_commit": result.get("start_commit"),
        "head_commit": result.get("head_commit"),
        "diffstat": result.get("diffstat"),
        "files_changed": result.get("files_changed"),
        "insertions": result.get("insertions"),
        "deletions": result.get("deletions"),
        "diff": diff,
    })))
}

//! `GET /v1/runs/{id}/diff`: the diff an `llm` run stored with its result.

use crate::http::auth::Principal;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, parse_id};
use crate::state::AppState;
use agent_runner_store::runs;
use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// What an `llm` run changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDiff {
    /// The run.
    pub run_id: Uuid,
    /// Its status.
    pub status: agent_runner_domain::RunStatus,
    /// Branch holding the agent's commits.
    pub branch: Option<Value>,
    /// Commit the run started from.
    pub start_commit: Option<Value>,
    /// Last commit of the run.
    pub head_commit: Option<Value>,
    /// `git diff --stat` of start..head.
    pub diffstat: Option<Value>,
    /// Files changed.
    pub files_changed: Option<Value>,
    /// Lines added.
    pub insertions: Option<Value>,
    /// Lines removed.
    pub deletions: Option<Value>,
    /// Unified diff start..head.
    pub diff: String,
}

/// The run's diff, diffstat and branch; 409 when the run has none (yet).
#[utoipa::path(get, path = "/v1/runs/{id}/diff", tag = "runs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id")),
    responses(
        (status = 200, body = RunDiff),
        (status = 404, description = "No such run, or not in the token's projects", body = ErrorBody),
        (status = 409, description = "The run has no diff (not an `llm` run, or not finished)", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RunDiff>, ApiError> {
    let id = parse_id(&id, "run")?;
    let run = runs::get_in(&state.pool, id, principal.scope())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no run with id `{id}`")))?;
    let result = run.result.unwrap_or(Value::Null);
    let Some(diff) = result.get("diff").and_then(Value::as_str) else {
        return Err(ApiError::Conflict(format!(
            "run is {} and has no diff (only `llm` runs that finished produce one)",
            run.status
        )));
    };
    let field = |name: &str| result.get(name).cloned();
    Ok(Json(RunDiff {
        run_id: run.id,
        status: run.status,
        branch: field("branch"),
        start_commit: field("start_commit"),
        head_commit: field("head_commit"),
        diffstat: field("diffstat"),
        files_changed: field("files_changed"),
        insertions: field("insertions"),
        deletions: field("deletions"),
        diff: diff.to_owned(),
    }))
}

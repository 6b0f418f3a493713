//! `POST /v1/runs/{id}/approve` and `/reject`: the approval gate of `llm`
//! runs. Only a run in AWAITING_APPROVAL can be reviewed (409 otherwise, and
//! while another review of it is in progress); the worker holding its
//! worktree (or, when it is gone, any live worker, from the run's branch
//! snapshot) merges or keeps the branch (approve → COMPLETED) or deletes it
//! (reject → REJECTED).

use super::requests::answer;
use crate::http::auth::{self, Principal, Role};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, OptionalJson, parse_id};
use crate::http::request_trace::RequestTrace;
use crate::run_requests::send_and_wait;
use crate::state::AppState;
use agent_runner_store::run_requests::{self, OpenOutcome, RequestKind};
use agent_runner_store::runs::Run;
use agent_runner_store::{projects, runs};
use agent_runner_telemetry::TraceParent;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

/// Body of an approve: merge into a branch, or keep the branch as it is.
/// Neither: the project's `settings.merge_into` (a branch, or `false` to
/// keep), else its default branch. The branch (and the merge) are pushed to
/// the project's repository; `push: false` keeps a branch without pushing it
/// (for a repository that takes no pushes), and can not go with a merge.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// Merge the run's branch into this one: a valid git branch name of at
    /// most 255 bytes.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    merge_into: Option<String>,
    /// Keep the branch as it is (not with `merge_into`).
    #[serde(default)]
    keep: bool,
    /// `false`: do not push the kept branch (only with `keep`).
    #[serde(default)]
    push: Option<bool>,
}

/// Approves a run that awaits approval: 200 with the run (COMPLETED), or
/// 202 with a URL to poll when the worker takes longer than `REQUEST_WAIT_MS`.
#[utoipa::path(post, path = "/v1/runs/{id}/approve", tag = "review", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id")),
    request_body(content = Option<ApproveBody>, description = "`merge_into` a branch, or `keep`; neither: the project's `settings.merge_into`, else its default branch. `push: false` (with keep only) does not push the branch to the project's repository"),
    responses(
        (status = 200, description = "Approved: the run (COMPLETED) with the request", body = Run),
        (status = 202, description = "Handed to the worker holding the worktree; poll the URL given", body = serde_json::Value),
        (status = 409, description = "Not AWAITING_APPROVAL, a review already open, a merge conflict, or the project's repository refused the push", body = ErrorBody),
        (status = 422, description = "Both merge_into and keep, a bad branch name, or push false with a merge", body = ErrorBody),
        (status = 403, description = "The token's role is below reviewer", body = ErrorBody),
        (status = 404, description = "No such run, or not in the token's projects", body = ErrorBody),
        (status = 503, description = "Postgres or RabbitMQ is unavailable, or no worker is connected; retry", body = ErrorBody),
    ))]
pub async fn approve(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(trace): Extension<RequestTrace>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<ApproveBody>,
) -> Result<Response, ApiError> {
    principal.require(Role::Reviewer)?;
    let id = parse_id(&id, "run")?;
    auth::run_in_scope(&state.pool, &principal, id).await?;
    if body.keep && body.merge_into.is_some() {
        return Err(ApiError::Validation(
            "give either merge_into or keep, not both".into(),
        ));
    }
    if let Some(branch) = &body.merge_into {
        check_branch_name(branch)?;
    }
    let mut target = match (body.keep, body.merge_into) {
        (true, _) => json!({"keep": true}),
        (false, Some(into)) => json!({"merge_into": into}),
        (false, None) => default_target(&state, id).await?,
    };
    if body.push == Some(false) {
        if let Some(into) = target.get("merge_into") {
            return Err(ApiError::Validation(format!(
                "a merge into {into} is only kept by pushing it to the project's repository; \
                 to approve without pushing, give keep with push false"
            )));
        }
        target["push"] = json!(false);
    }
    let params = json!({"target": target});
    review(&state, id, RequestKind::Approve, params, &trace.0).await
}

/// Rejects a run that awaits approval: its branch is deleted (from the
/// project's repository too when it was pushed there); 200 with the run
/// (REJECTED), or 202 with a URL to poll.
#[utoipa::path(post, path = "/v1/runs/{id}/reject", tag = "review", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id")),
    request_body(content = Option<RejectBody>, description = "Nothing (an empty object or no body)"),
    responses(
        (status = 200, description = "Rejected: the run (REJECTED, branch deleted) with the request", body = Run),
        (status = 202, description = "Handed to the worker holding the worktree; poll the URL given", body = serde_json::Value),
        (status = 409, description = "Not AWAITING_APPROVAL, a review already open, or the project's repository refused deleting the pushed branch", body = ErrorBody),
        (status = 403, description = "The token's role is below reviewer", body = ErrorBody),
        (status = 404, description = "No such run, or not in the token's projects", body = ErrorBody),
        (status = 503, description = "Postgres or RabbitMQ is unavailable, or no worker is connected; retry", body = ErrorBody),
    ))]
pub async fn reject(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(trace): Extension<RequestTrace>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(_body): OptionalJson<RejectBody>,
) -> Result<Response, ApiError> {
    principal.require(Role::Reviewer)?;
    let id = parse_id(&id, "run")?;
    auth::run_in_scope(&state.pool, &principal, id).await?;
    review(&state, id, RequestKind::Reject, json!({}), &trace.0).await
}

/// Body of a reject: nothing to say (an empty object or no body).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {}

async fn review(
    state: &AppState,
    id: Uuid,
    kind: RequestKind,
    params: Value,
    trace: &TraceParent,
) -> Result<Response, ApiError> {
    let request = match run_requests::open(&state.pool, id, kind, &params).await? {
        OpenOutcome::Opened(request) => request,
        OpenOutcome::WrongState(run) => {
            return Err(ApiError::Conflict(format!(
                "only runs AWAITING_APPROVAL can be approved or rejected; this one is {}",
                run.status
            )));
        }
        OpenOutcome::ReviewInProgress => {
            return Err(ApiError::Conflict(
                "a review of this run is already in progress".into(),
            ));
        }
        OpenOutcome::NotFound => return Err(not_found(id)),
    };
    let dispatched = send_and_wait(state, request, trace).await?;
    answer(state, dispatched).await
}

/// The project's default approve target.
async fn default_target(state: &AppState, run_id: Uuid) -> Result<Value, ApiError> {
    let run = runs::get(&state.pool, run_id)
        .await?
        .ok_or_else(|| not_found(run_id))?;
    let project = projects::get(&state.pool, run.project_id)
        .await?
        .ok_or_else(|| ApiError::Conflict("the run's project no longer exists".into()))?;
    Ok(match project.settings.get("merge_into") {
        Some(Value::Bool(false)) => json!({"keep": true}),
        Some(Value::String(branch)) => json!({"merge_into": branch}),
        _ => json!({"merge_into": project.default_branch}),
    })
}

/// A branch name git accepts and no option can hide in (the rules of
/// [`agent_runner_domain::repo::check_branch_name`]).
pub(crate) fn check_branch_name(branch: &str) -> Result<(), ApiError> {
    agent_runner_domain::repo::check_branch_name(branch).map_err(|e| {
        ApiError::Validation(format!(
            "merge_into `{branch}` is not a valid branch name: it {e}"
        ))
    })
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no run with id `{id}`"))
}

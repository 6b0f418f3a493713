//! `/v1/runs`: submit, list, show, cancel, retry.

use super::workers::STALE_AFTER_S;
use crate::http::auth::{self, Principal, Role};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, parse_id};
use crate::http::request_trace::RequestTrace;
use crate::outbox::fast_path;
use crate::state::AppState;
use agent_runner_domain::llm_settings::{params_override_endpoint, validate_llm_params};
use agent_runner_domain::{RunStatus, RunSubmission};
use agent_runner_store::runs::{
    self, CancelOutcome, Created, Idempotency, NewRun, RetryOutcome, Run, RunFilter,
};
use agent_runner_store::stalls;
use agent_runner_store::waiting::{self, Waiting};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Submits a run: 201 with the run. With an `Idempotency-Key` this token
/// used before for the same body, 201 with the run that key created (and
/// `Idempotent-Replayed: true`); for another body, 409 naming the fields
/// that differ.
#[utoipa::path(post, path = "/v1/runs", tag = "runs", security(("bearer" = [])),
    request_body = RunSubmission,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the submission idempotent: a repeat with the same body from the same token returns the run this key created; keys are the token's own"),
        ("traceparent" = Option<String>, Header, description = "W3C trace context; the job message and the worker continue this trace (a new one is started when absent)"),
    ),
    responses(
        (status = 201, description = "Accepted: committed, and published now or by the outbox relay", body = Run),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = ErrorBody),
        (status = 403, description = "The token's role is below runner, or an llm run's params.base_url from a token below admin", body = ErrorBody),
        (status = 409, description = "This token used the Idempotency-Key for a submission that differs (the message names the fields)", body = ErrorBody),
        (status = 422, description = "Invalid submission (goal, agent, params, unknown project or one outside the token's projects)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(trace): Extension<RequestTrace>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RunSubmission>,
) -> Result<Response, ApiError> {
    principal.require(Role::Runner)?;
    let valid = body
        .validate()
        .map_err(|e| ApiError::Validation(e.to_string()))?;
    // A project outside the token's scope is answered as a missing one.
    if !principal.scope().contains(valid.project_id) {
        return Err(unknown_project(valid.project_id));
    }
    if valid.agent == "llm" {
        validate_llm_params(&valid.params)
            .map_err(|e| ApiError::Validation(format!("params: {e}")))?;
        if params_override_endpoint(&valid.params) && principal.require(Role::Admin).is_err() {
            return Err(ApiError::Forbidden(
                "params.base_url points the run at another model endpoint, which needs the \
                 admin role"
                    .into(),
            ));
        }
    }
    let timeout_s = valid
        .timeout_s
        .unwrap_or(state.config.run_timeout_default_s);
    if timeout_s > state.config.run_timeout_max_s {
        return Err(ApiError::Validation(format!(
            "timeout_s must be at most {}, got {timeout_s}",
            state.config.run_timeout_max_s
        )));
    }
    let idempotency = idempotency_key(&headers)?.map(|key| Idempotency {
        token_id: principal.token_id,
        key,
    });
    let new = NewRun {
        project_id: valid.project_id,
        goal: valid.goal,
        agent: valid.agent,
        params: valid.params,
        max_attempts: valid.max_attempts,
        timeout_s: i32::try_from(timeout_s).unwrap_or(i32::MAX),
        priority: valid.priority,
        idempotency,
        traceparent: Some(trace.0.to_header()),
    };
    let project_id = new.project_id;
    let created = state.batches.create(new).await.map_err(|err| match err {
        agent_runner_store::StoreError::MissingReference(_) => unknown_project(project_id),
        other => other.into(),
    })?;
    match created {
        Created::New { run, outbox_id } => {
            fast_path::publish(&state, &run, outbox_id, &trace).await;
            state
                .metrics
                .runs_submitted
                .with_label_values(&[run.agent.as_str()])
                .inc();
            tracing::info!(run.id = %run.id, run.agent = %run.agent, "run accepted");
            Ok((StatusCode::CREATED, Json(run)).into_response())
        }
        Created::Existing(run) => {
            let mut response = (StatusCode::CREATED, Json(run)).into_response();
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
    }
}

fn unknown_project(project_id: uuid::Uuid) -> ApiError {
    ApiError::Validation(format!("project_id `{project_id}` does not exist"))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()))?
        .trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"
        )));
    }
    Ok(Some(key.to_owned()))
}

/// Query of the run listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only runs in this status (any case).
    #[serde(default)]
    status: Option<String>,
    /// Only runs of this project.
    #[serde(default)]
    #[param(value_type = Option<Uuid>)]
    project_id: Option<String>,
    /// Only runs of this agent (e.g. `llm`).
    #[serde(default)]
    #[param(max_length = 100)]
    agent: Option<String>,
    /// Only runs whose goal contains this text, ignoring case.
    #[serde(default)]
    #[param(max_length = 200)]
    q: Option<String>,
    /// `true`: each run without its `result` (`null`), which is most of an
    /// `llm` run's size; read it with `GET /v1/runs/{id}`.
    #[serde(default)]
    brief: Option<bool>,
    /// Page size, 1 to 500 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    cursor: Option<String>,
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<Run>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Lists runs newest first; `next_cursor` fetches the next page. A token
/// scoped to projects sees only their runs.
#[utoipa::path(get, path = "/v1/runs", tag = "runs", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = RunPage),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RunPage>, ApiError> {
    let status = query
        .status
        .map(|s| s.to_ascii_uppercase().parse::<RunStatus>())
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let project_id = query
        .project_id
        .map(|p| p.parse())
        .transpose()
        .map_err(|_| ApiError::BadRequest("project_id must be a UUID".into()))?;
    let before = query
        .cursor
        .map(|c| c.parse())
        .transpose()
        .map_err(|_| ApiError::BadRequest("cursor is not one this api issued".into()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 500".into(),
        ));
    }
    let agent = text_filter("agent", query.agent.as_deref(), 100)?;
    let goal_contains = text_filter("q", query.q.as_deref(), 200)?;
    let runs = runs::list(
        &state.pool,
        &RunFilter {
            scope: principal.scope(),
            status,
            project_id,
            agent,
            goal_contains,
            before,
            limit,
            brief: query.brief.unwrap_or(false),
        },
    )
    .await?;
    let next_cursor = if runs.len() as i64 == limit {
        runs.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(Json(RunPage { runs, next_cursor }))
}

/// A text filter of the listing: `None` when absent or empty; 400 when
/// longer than `max` characters or holding a NUL.
fn text_filter<'a>(
    name: &str,
    value: Option<&'a str>,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > max || text.contains('\0') => {
            Err(ApiError::BadRequest(format!(
                "{name} must be at most {max} characters, without NUL"
            )))
        }
        Some(text) => Ok(Some(text)),
    }
}

/// `GET /v1/runs/{id}` answer: the run, and why it waits when it does.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// The run.
    #[serde(flatten)]
    pub run: Run,
    /// Why a QUEUED, RETRYING or AWAITING_APPROVAL run waits; absent for a
    /// run that is running or finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// For a RUNNING run whose newest event is RUN_STALLED: when it last
    /// emitted anything else. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stalled_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// Shows one run, with why it waits when it does.
#[utoipa::path(get, path = "/v1/runs/{id}", tag = "runs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 404, description = "No such run, or not in the token's projects", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RunView>, ApiError> {
    let id = parse_id(&id, "run")?;
    let run = runs::get_in(&state.pool, id, principal.scope())
        .await?
        .ok_or_else(|| not_found(id))?;
    let waiting = waiting::of(&state.pool, run.id, run.status, STALE_AFTER_S).await?;
    let stalled_since = if run.status == RunStatus::Running {
        stalls::stalled_since(&state.pool, run.id).await?
    } else {
        None
    };
    Ok(Json(RunView {
        run,
        waiting,
        stalled_since,
    }))
}

fn not_found(id: uuid::Uuid) -> ApiError {
    ApiError::NotFound(format!("no run with id `{id}`"))
}

/// Cancels a run: 200 with the run once CANCELLED, 202 with the RUNNING run
/// (`cancel_requested`) while its worker stops it; 409 when already finished.
#[utoipa::path(post, path = "/v1/runs/{id}/cancel", tag = "runs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id")),
    responses(
        (status = 200, description = "Cancelled (it was QUEUED or RETRYING)", body = Run),
        (status = 202, description = "Requested: the worker stops the RUNNING run within about a second", body = Run),
        (status = 403, description = "The token's role is below runner", body = ErrorBody),
        (status = 404, description = "No such run, or not in the token's projects", body = ErrorBody),
        (status = 409, description = "The run already finished", body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    principal.require(Role::Runner)?;
    let id = parse_id(&id, "run")?;
    auth::run_in_scope(&state.pool, &principal, id).await?;
    match runs::cancel(&state.pool, id).await? {
        CancelOutcome::Cancelled(run) => {
            state
                .metrics
                .runs_cancelled
                .with_label_values(&["cancelled", run.agent.as_str()])
                .inc();
            Ok((StatusCode::OK, Json(run)).into_response())
        }
        CancelOutcome::Requested(run) => {
            state
                .metrics
                .runs_cancelled
                .with_label_values(&["requested", run.agent.as_str()])
                .inc();
            Ok((StatusCode::ACCEPTED, Json(run)).into_response())
        }
        CancelOutcome::AlreadyFinished(run) => Err(ApiError::Conflict(format!(
            "run is {} and can no longer be cancelled",
            run.status
        ))),
        CancelOutcome::NotFound => Err(not_found(id)),
    }
}

/// Re-queues a FAILED or CANCELLED run as a new attempt: 202 with the run.
#[utoipa::path(post, path = "/v1/runs/{id}/retry", tag = "runs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id"), ("traceparent" = Option<String>, Header, description = "W3C trace context; the job message and the worker continue this trace (a new one is started when absent)")),
    responses(
        (status = 202, description = "Queued again as a new attempt", body = Run),
        (status = 403, description = "The token's role is below runner", body = ErrorBody),
        (status = 404, description = "No such run, or not in the token's projects", body = ErrorBody),
        (status = 409, description = "Only FAILED or CANCELLED runs can be retried", body = ErrorBody),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(trace): Extension<RequestTrace>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    principal.require(Role::Runner)?;
    let id = parse_id(&id, "run")?;
    auth::run_in_scope(&state.pool, &principal, id).await?;
    let traceparent = trace.0.to_header();
    match runs::retry(&state.pool, id, Some(&traceparent)).await? {
        RetryOutcome::Requeued { run, outbox_id } => {
            fast_path::publish(&state, &run, outbox_id, &trace).await;
            state
                .metrics
                .runs_retried
                .with_label_values(&[run.agent.as_str()])
                .inc();
            Ok((StatusCode::ACCEPTED, Json(run)).into_response())
        }
        RetryOutcome::NotRetryable(run) => Err(ApiError::Conflict(format!(
            "only FAILED or CANCELLED runs can be retried; this one is {}",
            run.status
        ))),
        RetryOutcome::NotFound => Err(not_found(id)),
    }
}

//! `/v1/runs`: submit, list, show, cancel, retry.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, parse_id};
use crate::state::AppState;
use agent_runner_domain::{JobMessage, RunStatus, RunSubmission};
use agent_runner_queue::JobProperties;
use agent_runner_store::outbox;
use agent_runner_store::runs::{
    self, CancelOutcome, Created, NewRun, RetryOutcome, Run, RunFilter,
};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Submits a run: 201 with the run. With an `Idempotency-Key` seen before,
/// 201 with the run that key created (and `Idempotent-Replayed: true`).
pub async fn create(
    State(state): State<AppState>,
    Extension(_principal): Extension<Principal>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RunSubmission>,
) -> Result<Response, ApiError> {
    let valid = body
        .validate()
        .map_err(|e| ApiError::Validation(e.to_string()))?;
    let timeout_s = valid
        .timeout_s
        .unwrap_or(state.config.run_timeout_default_s);
    if timeout_s > state.config.run_timeout_max_s {
        return Err(ApiError::Validation(format!(
            "timeout_s must be at most {}, got {timeout_s}",
            state.config.run_timeout_max_s
        )));
    }
    let idempotency_key = idempotency_key(&headers)?;
    let new = NewRun {
        project_id: valid.project_id,
        goal: valid.goal,
        agent: valid.agent,
        params: valid.params,
        max_attempts: valid.max_attempts,
        timeout_s: i32::try_from(timeout_s).unwrap_or(i32::MAX),
        idempotency_key,
    };
    let created = runs::create(&state.pool, &new)
        .await
        .map_err(|err| match err {
            agent_runner_store::StoreError::MissingReference(_) => {
                ApiError::Validation(format!("project_id `{}` does not exist", new.project_id))
            }
            other => other.into(),
        })?;
    match created {
        Created::New { run, outbox_id } => {
            publish_fast_path(&state, &run, outbox_id).await;
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

/// Publishes the job for a freshly committed outbox row and marks it sent.
/// Any failure is left to the relay: the run is committed either way.
pub(crate) async fn publish_fast_path(state: &AppState, run: &Run, outbox_id: i64) {
    let msg = JobMessage::ExecuteRun { run_id: run.id };
    let props = JobProperties {
        attempt: run.attempt + 1,
        project_id: Some(run.project_id),
        reason: None,
    };
    match state.broker.publish_job(&msg, &props).await {
        Ok(()) => {
            if let Err(err) = outbox::mark_sent(&state.pool, outbox_id).await {
                // The relay will publish it again; the worker drops duplicates.
                tracing::warn!(run.id = %run.id, error = %err, "could not mark outbox row sent");
            }
        }
        Err(err) => {
            tracing::warn!(run.id = %run.id, error = %err, "publish deferred to the outbox relay");
            state.relay.wake();
        }
    }
}

/// Query of the run listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    cursor: Option<String>,
}

/// Lists runs newest first; `next_cursor` fetches the next page.
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let runs = runs::list(
        &state.pool,
        &RunFilter {
            status,
            project_id,
            before,
            limit,
        },
    )
    .await?;
    let next_cursor = if runs.len() as i64 == limit {
        runs.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(Json(json!({"runs": runs, "next_cursor": next_cursor})))
}

/// Shows one run.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    let id = parse_id(&id, "run")?;
    runs::get(&state.pool, id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(id))
}

fn not_found(id: uuid::Uuid) -> ApiError {
    ApiError::NotFound(format!("no run with id `{id}`"))
}

/// Cancels a run: 200 with the run (CANCELLED, or RUNNING with
/// `cancel_requested` while its worker stops it); 409 when already finished.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "run")?;
    match runs::cancel(&state.pool, id).await? {
        CancelOutcome::Cancelled(run) => Ok((StatusCode::OK, Json(run)).into_response()),
        CancelOutcome::Requested(run) => Ok((StatusCode::ACCEPTED, Json(run)).into_response()),
        CancelOutcome::AlreadyFinished(run) => Err(ApiError::Conflict(format!(
            "run is {} and can no longer be cancelled",
            run.status
        ))),
        CancelOutcome::NotFound => Err(not_found(id)),
    }
}

/// Re-queues a FAILED or CANCELLED run as a new attempt: 202 with the run.
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "run")?;
    match runs::retry(&state.pool, id).await? {
        RetryOutcome::Requeued { run, outbox_id } => {
            publish_fast_path(&state, &run, outbox_id).await;
            Ok((StatusCode::ACCEPTED, Json(run)).into_response())
        }
        RetryOutcome::NotRetryable(run) => Err(ApiError::Conflict(format!(
            "only FAILED or CANCELLED runs can be retried; this one is {}",
            run.status
        ))),
        RetryOutcome::NotFound => Err(not_found(id)),
    }
}

//! `GET /v1/runs/{id}/requests/{request_id}`: a review or exec request and
//! the worker's answer, for clients that got a 202; and how a request's
//! answer becomes a response.

use crate::http::auth::{self, Principal};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, parse_id};
use crate::run_requests::{Dispatched, request_url};
use crate::state::AppState;
use agent_runner_store::run_requests::{self, RequestKind, RunRequest};
use agent_runner_store::runs;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

/// Shows one request. A PENDING request whose worker stopped or went silent
/// is closed FAILED first, so a client polling it gets an answer.
#[utoipa::path(get, path = "/v1/runs/{id}/requests/{request_id}", tag = "review", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id"), ("request_id" = Uuid, Path, description = "Request id")),
    responses(
        (status = 200, description = "The request: kind, status (PENDING, DONE, FAILED), result or error", body = serde_json::Value),
        (status = 404, description = "No such run, or not in the token's projects", body = ErrorBody),
        (status = 503, description = "Postgres or RabbitMQ is unavailable; retry", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath((id, request_id)): ApiPath<(String, String)>,
) -> Result<Json<RunRequest>, ApiError> {
    let id = parse_id(&id, "run")?;
    auth::run_in_scope(&state.pool, &principal, id).await?;
    let request_id = parse_id(&request_id, "request")?;
    // A request whose worker died after receiving it ends here, FAILED.
    run_requests::expire_abandoned(&state.pool, id).await?;
    run_requests::get(&state.pool, id, request_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no request `{request_id}` for run `{id}`")))
}

/// 200 with the answer (a review: the run and the request; an exec: the
/// command's result), 409 with the worker's reason when it failed, 202 with
/// a `Location` to poll when it is still pending.
pub async fn answer(state: &AppState, dispatched: Dispatched) -> Result<Response, ApiError> {
    let request = match dispatched {
        Dispatched::Pending(request) => {
            let url = request_url(&request);
            let mut response = (
                StatusCode::ACCEPTED,
                Json(json!({"request": request, "poll": url})),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&url) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            return Ok(response);
        }
        Dispatched::Answered(request) => request,
    };
    if request.status != "DONE" {
        return Err(ApiError::Conflict(request.error.unwrap_or_else(|| {
            "the worker could not carry out the request".to_owned()
        })));
    }
    let body = match request.kind {
        RequestKind::Exec => {
            let mut body = request.result.clone().unwrap_or(Value::Null);
            if let Some(fields) = body.as_object_mut() {
                fields.insert("request_id".into(), json!(request.id));
            }
            body
        }
        RequestKind::Approve | RequestKind::Reject => {
            let run = runs::get(&state.pool, request.run_id).await?;
            let mut body = serde_json::to_value(run).unwrap_or(Value::Null);
            if let Some(fields) = body.as_object_mut() {
                fields.insert("request".into(), json!(request));
            }
            body
        }
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}

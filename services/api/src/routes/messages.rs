//! `POST /v1/runs/{id}/messages {message}`: a follow-up to a finished `llm`
//! run. The message is stored and the run continues as a new attempt on its
//! branch, with its previous conversation and every message so far —
//! re-queued through the outbox, like a retry.

use crate::http::auth::{Principal, Role};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, parse_id};
use crate::http::request_trace::RequestTrace;
use crate::outbox::fast_path;
use crate::state::AppState;
use agent_runner_domain::RunStatus;
use agent_runner_store::messages::{self, CONTINUABLE, PostOutcome};
use agent_runner_store::runs;
use agent_runner_store::runs::Run;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Longest accepted message, in bytes (as long as a goal may be).
pub const MAX_MESSAGE_BYTES: usize = agent_runner_domain::submission::MAX_GOAL_BYTES;

/// Body of a follow-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// The follow-up: 1 to 10 KiB ([`MAX_MESSAGE_BYTES`]) once trimmed.
    #[schema(min_length = 1, max_length = 10240)]
    message: String,
}

/// Posts the message: 202 with the run, QUEUED again. 409 unless the run is
/// an `llm` run in COMPLETED, FAILED, CANCELLED or AWAITING_APPROVAL (and no
/// review of it is in progress); 422 for an empty or oversized message.
#[utoipa::path(post, path = "/v1/runs/{id}/messages", tag = "runs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id"), ("traceparent" = Option<String>, Header, description = "W3C trace context; the new attempt continues this trace")),
    request_body = MessageBody,
    responses(
        (status = 202, description = "Message stored; the run is QUEUED again as a new attempt", body = Run),
        (status = 403, description = "The token's role is below runner", body = ErrorBody),
        (status = 404, description = "No such run, or not in the token's projects", body = ErrorBody),
        (status = 409, description = "Not an `llm` run in COMPLETED, FAILED, CANCELLED or AWAITING_APPROVAL, or a review is in progress", body = ErrorBody),
        (status = 422, description = "Empty or oversized message", body = ErrorBody),
    ))]
pub async fn post(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(trace): Extension<RequestTrace>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MessageBody>,
) -> Result<Response, ApiError> {
    principal.require(Role::Runner)?;
    let id = parse_id(&id, "run")?;
    let message = body.message.trim();
    if message.is_empty() {
        return Err(ApiError::Validation("message must not be empty".into()));
    }
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(ApiError::Validation(format!(
            "message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
            message.len()
        )));
    }
    let run = runs::get_in(&state.pool, id, principal.scope())
        .await?
        .ok_or_else(|| not_found(id))?;
    if run.agent != "llm" {
        return Err(ApiError::Conflict(format!(
            "only `llm` runs take follow-up messages; this one is `{}`",
            run.agent
        )));
    }
    let traceparent = trace.0.to_header();
    match messages::post(&state.pool, id, message, Some(&traceparent)).await? {
        PostOutcome::Requeued { run, outbox_id } => {
            fast_path::publish(&state, &run, outbox_id, &trace).await;
            tracing::info!(run.id = %run.id, "follow-up message posted; run queued again");
            Ok((StatusCode::ACCEPTED, Json(run)).into_response())
        }
        PostOutcome::NotContinuable(run) if CONTINUABLE.contains(&run.status) => {
            Err(ApiError::Conflict(
                "a review of this run is in progress; post the message once it is answered".into(),
            ))
        }
        PostOutcome::NotContinuable(run) => Err(ApiError::Conflict(format!(
            "messages continue runs that are {}; this one is {}",
            CONTINUABLE.map(RunStatus::as_str).join(", "),
            run.status
        ))),
        PostOutcome::NotFound => Err(not_found(id)),
    }
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no run with id `{id}`"))
}

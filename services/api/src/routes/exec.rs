//! `POST /v1/runs/{id}/exec {cmd, timeout_s?}`: runs a command in the kept
//! worktree of a run that awaits approval, on the worker that holds it (or
//! any live worker, which makes the worktree again from the run's branch
//! snapshot, when that one is gone), with
//! the limits of the agent's `run_command` (own process group, scrubbed
//! environment, timeout, capped output). The admin role only.

use super::requests::answer;
use crate::http::auth::{self, Principal, Role};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, parse_id};
use crate::http::request_trace::RequestTrace;
use crate::run_requests::send_and_wait;
use crate::state::AppState;
use agent_runner_store::run_requests::{self, OpenOutcome, RequestKind};
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

/// Longest accepted command, in bytes.
pub const MAX_CMD_BYTES: usize = 8 * 1024;
/// Default and largest timeout, in seconds (the worker also caps it).
const DEFAULT_TIMEOUT_S: u64 = 60;
const MAX_TIMEOUT_S: u64 = 600;

/// Body of an exec.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecBody {
    /// The command, run by `sh -c`: 1 to 8 KiB ([`MAX_CMD_BYTES`]), not blank.
    #[schema(min_length = 1, max_length = 8192)]
    cmd: String,
    /// Seconds before it is killed: 1 to 600 ([`MAX_TIMEOUT_S`]), default 60.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 600)]
    timeout_s: Option<u64>,
}

/// Runs the command: 200 with `exit_code` (null when killed), `stdout`,
/// `stderr`, `truncated`, `timed_out`; 202 with a URL to poll when it runs
/// longer than `REQUEST_WAIT_MS`.
#[utoipa::path(post, path = "/v1/runs/{id}/exec", tag = "review", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id")),
    request_body = ExecBody,
    responses(
        (status = 200, description = "The command ran: `exit_code`, `stdout`, `stderr`, `truncated`, `timed_out`", body = serde_json::Value),
        (status = 202, description = "Still running on the worker; poll the URL given", body = serde_json::Value),
        (status = 403, description = "The token's role is below admin", body = ErrorBody),
        (status = 409, description = "Not AWAITING_APPROVAL, or a review in progress", body = ErrorBody),
        (status = 422, description = "Empty or oversized cmd, or timeout_s out of range", body = ErrorBody),
        (status = 404, description = "No such run, or not in the token's projects", body = ErrorBody),
        (status = 503, description = "Postgres or RabbitMQ is unavailable, or no worker is connected; retry", body = ErrorBody),
    ))]
pub async fn exec(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(trace): Extension<RequestTrace>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ExecBody>,
) -> Result<Response, ApiError> {
    principal.require(Role::Admin)?;
    let id = parse_id(&id, "run")?;
    auth::run_in_scope(&state.pool, &principal, id).await?;
    if body.cmd.trim().is_empty() || body.cmd.len() > MAX_CMD_BYTES {
        return Err(ApiError::Validation(format!(
            "cmd must be 1 to {MAX_CMD_BYTES} bytes"
        )));
    }
    let timeout_s = body.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
    if !(1..=MAX_TIMEOUT_S).contains(&timeout_s) {
        return Err(ApiError::Validation(format!(
            "timeout_s must be between 1 and {MAX_TIMEOUT_S}"
        )));
    }
    let params = json!({"cmd": body.cmd, "timeout_s": timeout_s});
    let request = match run_requests::open(&state.pool, id, RequestKind::Exec, &params).await? {
        OpenOutcome::Opened(request) => request,
        OpenOutcome::WrongState(run) => {
            return Err(ApiError::Conflict(format!(
                "commands run in the kept worktree of a run AWAITING_APPROVAL; this one is {}",
                run.status
            )));
        }
        OpenOutcome::ReviewInProgress => {
            return Err(ApiError::Conflict(
                "a review of this run is in progress".into(),
            ));
        }
        OpenOutcome::NotFound => {
            return Err(ApiError::NotFound(format!("no run with id `{id}`")));
        }
    };
    tracing::info!(run.id = %id, token = %principal.name, "exec in a run's worktree requested");
    let dispatched = send_and_wait(&state, request, &trace.0).await?;
    answer(&state, dispatched).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_states_the_limits_an_exec_is_checked_against() {
        let schema = serde_json::to_value(<ExecBody as utoipa::PartialSchema>::schema())
            .expect("schema serialises");
        assert_eq!(schema["properties"]["cmd"]["maxLength"], MAX_CMD_BYTES);
        assert_eq!(schema["properties"]["timeout_s"]["maximum"], MAX_TIMEOUT_S);
    }
}

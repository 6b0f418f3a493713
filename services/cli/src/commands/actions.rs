//! The run transitions a client asks for: `cancel`, `retry`, `approve` and
//! `reject`. Each prints the run's new status (or with `--json`, the run).

use super::Ctx;
use crate::exit::{CliError, Exit};
use crate::model::Run;
use crate::render::{emit, emit_json};
use reqwest::StatusCode;
use uuid::Uuid;

/// `cancel ID`: 200 when cancelled at once, 202 when a running run stops soon.
pub async fn cancel(ctx: &Ctx, id: Uuid) -> Result<Exit, CliError> {
    transition(ctx, id, "cancel", |status, run| {
        if status == StatusCode::ACCEPTED {
            format!("cancel requested: run {id} is stopping ({run})")
        } else {
            format!("run {id} {run}")
        }
    })
    .await
}

/// `retry ID`: the run is queued for another attempt.
pub async fn retry(ctx: &Ctx, id: Uuid) -> Result<Exit, CliError> {
    transition(ctx, id, "retry", |_, run| {
        format!("run {id} {run}; follow it with: agent-runner watch {id}")
    })
    .await
}

/// `approve ID`: the run's worker merges its branch into the project's
/// default target (202: it is still at it).
pub async fn approve(ctx: &Ctx, id: Uuid) -> Result<Exit, CliError> {
    transition(ctx, id, "approve", |status, run| {
        if status == StatusCode::ACCEPTED {
            format!(
                "approval of run {id} handed to its worker; check with: agent-runner runs show {id}"
            )
        } else {
            format!("run {id} approved: {run}")
        }
    })
    .await
}

/// `reject ID`: the run's worker deletes its branch (202: it is still at it).
pub async fn reject(ctx: &Ctx, id: Uuid) -> Result<Exit, CliError> {
    transition(ctx, id, "reject", |status, run| {
        if status == StatusCode::ACCEPTED {
            format!("rejection of run {id} handed to its worker; check with: agent-runner runs show {id}")
        } else {
            format!("run {id} rejected: {run}")
        }
    })
    .await
}

/// POSTs `/v1/runs/{id}/{action}` and prints `message(status, run status)`.
async fn transition(
    ctx: &Ctx,
    id: Uuid,
    action: &str,
    message: impl Fn(StatusCode, &str) -> String,
) -> Result<Exit, CliError> {
    // An empty JSON object rather than no body: handlers that read an
    // (all-optional) body accept it, and handlers that read none ignore it.
    let empty = serde_json::json!({});
    let path = format!("/v1/runs/{id}/{action}");
    let reply = ctx.client.post(&path, Some(&empty), &[]).await?;
    if ctx.json {
        emit_json(&reply.body);
        return Ok(Exit::Success);
    }
    // Only the status is shown; an answer without one still succeeded.
    let run: Run = serde_json::from_value(reply.body.clone()).unwrap_or_default();
    let status = if run.status.is_empty() {
        "done".to_owned()
    } else {
        run.status.clone()
    };
    emit(&message(reply.status, &ctx.style.status(&status, &status)));
    Ok(Exit::Success)
}

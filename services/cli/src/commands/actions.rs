//! The run transitions the api makes at once: `cancel` and `retry`. Each
//! prints the run's new status (or with `--json`, the run). The decisions
//! on a run awaiting approval are in `review`.

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

//! `message ID TEXT…`: a follow-up to a finished `llm` run, which the api
//! stores and continues as a new attempt on the run's branch. Prints the
//! queued run or, with `--watch`, follows it like `submit --watch` and exits
//! by its final status.

use super::{Ctx, parse, watch};
use crate::cli::MessageArgs;
use crate::exit::{CliError, Exit};
use crate::model::Run;
use crate::render::{emit, emit_json};
use serde_json::json;

/// Posts the message of `args`.
pub async fn run(ctx: &Ctx, args: MessageArgs) -> Result<Exit, CliError> {
    let id = args.id;
    let body = json!({"message": args.words.join(" ")});
    let reply = ctx
        .client
        .post(&format!("/v1/runs/{id}/messages"), Some(&body), &[])
        .await?;
    let run: Run = parse(&reply.body, "a run")?;
    if args.watch {
        if !ctx.json {
            emit(&format!("message posted to run {id}"));
        }
        return watch::follow_to_end(ctx, id).await;
    }
    if ctx.json {
        emit_json(&reply.body);
    } else {
        emit(&format!(
            "message posted: run {id} {}",
            ctx.style.status(&run.status, &run.status)
        ));
        eprintln!("follow it with: agent-runner watch {id}");
    }
    Ok(Exit::Success)
}

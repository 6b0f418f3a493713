//! `workers`: the live workers and how many runs each is executing.

use super::Ctx;
use crate::exit::{CliError, Exit};
use crate::model::{Worker, list_of};
use crate::render::{emit, emit_json, workers_table};

/// `workers`.
pub async fn run(ctx: &Ctx) -> Result<Exit, CliError> {
    let body = ctx.client.get("/v1/workers", &[]).await?;
    if ctx.json {
        emit_json(&body);
        return Ok(Exit::Success);
    }
    let workers: Vec<Worker> = list_of(&body, "workers");
    if workers.is_empty() {
        eprintln!("no live workers");
    } else {
        emit(&workers_table(&workers, ctx.style));
    }
    Ok(Exit::Success)
}

//! `diff ID`: the changes a run made, as a unified diff ready for
//! `git apply`, or only the diffstat with `--stat`.

use super::Ctx;
use crate::exit::{CliError, Exit};
use crate::render::{diff_text, emit, emit_json};
use serde_json::Value;
use uuid::Uuid;

/// `diff ID [--stat]`.
pub async fn run(ctx: &Ctx, id: Uuid, stat: bool) -> Result<Exit, CliError> {
    let body = ctx.client.get(&format!("/v1/runs/{id}/diff"), &[]).await?;
    if ctx.json {
        emit_json(&body);
        return Ok(Exit::Success);
    }
    let field = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let text = if stat {
        field("diffstat")
    } else {
        field("diff")
    };
    if text.trim().is_empty() {
        eprintln!("run {id} changed nothing");
    } else if stat {
        emit(text.trim_end());
    } else {
        emit(&diff_text(text.trim_end_matches('\n'), ctx.style));
    }
    Ok(Exit::Success)
}

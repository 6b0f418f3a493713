//! `watch` (and `submit --watch`): the live timeline of a run, one line per
//! event, then a closing line; the exit code follows the run's final status.
//! With `--json` the timeline is not printed and the final run is the one
//! document on stdout.

use super::Ctx;
use crate::exit::{CliError, Exit};
use crate::follow::{Followed, follow};
use crate::model::{AWAITING_APPROVAL, Run};
use crate::render::{emit, emit_json};
use crate::spinner::Spinner;
use crate::timeline;
use uuid::Uuid;

/// `watch ID`.
pub async fn run(ctx: &Ctx, id: Uuid) -> Result<Exit, CliError> {
    follow_to_end(ctx, id).await
}

/// Follows run `id` until it ends or awaits approval, and reports the end.
pub async fn follow_to_end(ctx: &Ctx, id: Uuid) -> Result<Exit, CliError> {
    let short_id: String = id.to_string().chars().take(8).collect();
    let mut spinner = Spinner::new(ctx.spinner, format!("run {short_id}"));
    let (json, style) = (ctx.json, ctx.style);
    let followed = follow(&ctx.client, id, &mut spinner, |event| {
        if !json {
            emit(&timeline::line(event, style));
        }
    })
    .await?;
    spinner.clear();
    let Followed { status, run } = followed;
    if json {
        let run = match run {
            Some(run) => run,
            None => ctx.client.get(&format!("/v1/runs/{id}"), &[]).await?,
        };
        emit_json(&run);
    } else {
        let details: Option<Run> = run
            .as_ref()
            .and_then(|r| serde_json::from_value(r.clone()).ok());
        let mut closing = format!("run {id} {}", style.status(&status, &status));
        if let Some(run) = &details {
            closing.push_str(&format!(
                " (attempt {} of {})",
                run.attempt, run.max_attempts
            ));
            if let Some(error) = run.error.as_deref().filter(|_| status == "FAILED") {
                closing.push_str(&format!(": {error}"));
            }
        }
        emit(&closing);
    }
    if status == AWAITING_APPROVAL {
        eprintln!("awaiting approval: agent-runner approve {id}");
    }
    Ok(Exit::for_run_status(&status))
}

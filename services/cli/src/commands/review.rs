//! `approve` and `reject`: the decision on a run that awaits approval. The
//! worker holding the run's worktree carries it out; when it takes longer
//! than the api waits (202), the request is waited for here, so the command
//! ends with the decision made either way.

use super::{Ctx, parse};
use crate::cli::ApproveArgs;
use crate::exit::{CliError, Exit};
use crate::model::Run;
use crate::render::{emit, emit_json};
use crate::run_requests::{self, Handed};
use crate::spinner::Spinner;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

/// Longest wait for a worker's decision after a 202: as long as the api
/// keeps a review open before taking it as lost.
const REVIEW_WAIT: Duration = Duration::from_secs(600);

/// `approve ID [--merge-into BRANCH | --keep [--no-push]] [--wait S]`.
pub async fn approve(ctx: &Ctx, args: ApproveArgs) -> Result<Exit, CliError> {
    let body = match (args.merge_into, args.keep) {
        (Some(branch), _) => json!({"merge_into": branch}),
        (None, true) if args.no_push => json!({"keep": true, "push": false}),
        (None, true) => json!({"keep": true}),
        // Neither: the api picks the project's default target.
        (None, false) => json!({}),
    };
    let id = args.id;
    let run = decide(ctx, id, "approve", &body, args.wait_s).await?;
    if let Some(run) = run {
        let review = review_of(&run);
        let branch = review["branch"].as_str().unwrap_or("its branch");
        let outcome = match review["merged_into"].as_str() {
            Some(into) => {
                let commit = review["merged_commit"].as_str().unwrap_or_default();
                let short: String = commit.chars().take(12).collect();
                let pushed = if review["pushed_to_origin"] == true {
                    ", pushed to origin"
                } else {
                    ""
                };
                format!("{branch} merged into {into} at {short}{pushed}")
            }
            None if review["pushed_to_origin"] == true => {
                format!("{branch} kept, not merged, pushed to origin")
            }
            None => format!("{branch} kept, not merged"),
        };
        emit(&format!(
            "run {id} approved: {}; {outcome}",
            ctx.style.status(&run.status, &run.status)
        ));
    }
    Ok(Exit::Success)
}

/// `reject ID [--wait S]`: the run's worker deletes its branch.
pub async fn reject(ctx: &Ctx, id: Uuid, wait_s: Option<u64>) -> Result<Exit, CliError> {
    if let Some(run) = decide(ctx, id, "reject", &json!({}), wait_s).await? {
        let review = review_of(&run);
        let branch = review["branch"].as_str().unwrap_or("its branch");
        emit(&format!(
            "run {id} rejected: {}; {branch} deleted",
            ctx.style.status(&run.status, &run.status)
        ));
    }
    Ok(Exit::Success)
}

/// POSTs the decision and waits for it when the api hands it over (202),
/// for `wait_s` seconds (default [`REVIEW_WAIT`]). With `--json` prints the
/// run with its `request`, as the api answers when it does not hand over,
/// and returns `None`; otherwise returns the run.
async fn decide(
    ctx: &Ctx,
    id: Uuid,
    action: &str,
    body: &Value,
    wait_s: Option<u64>,
) -> Result<Option<Run>, CliError> {
    let reply = ctx
        .client
        .post(&format!("/v1/runs/{id}/{action}"), Some(body), &[])
        .await?;
    let document = if reply.status == StatusCode::ACCEPTED {
        let handed = Handed::from_body(id, &reply.body)?;
        let short_id: String = id.to_string().chars().take(8).collect();
        let mut spinner = Spinner::new(ctx.spinner, format!("{action} run {short_id}"));
        let limit = wait_s.map_or(REVIEW_WAIT, Duration::from_secs);
        let request = run_requests::wait(&ctx.client, &handed, &mut spinner, limit).await?;
        let mut run = ctx.client.get(&format!("/v1/runs/{id}"), &[]).await?;
        if let Some(fields) = run.as_object_mut() {
            fields.insert("request".into(), request);
        }
        run
    } else {
        reply.body
    };
    if ctx.json {
        emit_json(&document);
        return Ok(None);
    }
    parse(&document, "a run").map(Some)
}

/// The worker's account of the review, stored in the run's result.
fn review_of(run: &Run) -> Value {
    run.result
        .as_ref()
        .and_then(|r| r.get("review"))
        .cloned()
        .unwrap_or(Value::Null)
}

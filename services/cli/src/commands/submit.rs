//! `submit`: create a run (resolving a project name to its id), then either
//! print it or, with `--watch`, follow it and exit by its final status.

use super::{Ctx, parse, projects, watch};
use crate::cli::SubmitArgs;
use crate::exit::{CliError, Exit};
use crate::model::Run;
use crate::params;
use crate::render::emit;
use serde_json::{Value, json};
use uuid::Uuid;

/// Submits the run described by `args`.
pub async fn run(ctx: &Ctx, args: SubmitArgs) -> Result<Exit, CliError> {
    let project_id = projects::resolve(ctx, &args.project).await?;
    let mut body = json!({"project_id": project_id, "goal": args.goal});
    if let Some(agent) = args.agent {
        body["agent"] = Value::String(agent);
    }
    if let Some(params) = params::merge(args.params_json, args.params) {
        body["params"] = params;
    }
    if let Some(max_attempts) = args.max_attempts {
        body["max_attempts"] = json!(max_attempts);
    }
    if let Some(timeout_s) = args.timeout_s {
        body["timeout_s"] = json!(timeout_s);
    }
    if let Some(priority) = args.priority {
        body["priority"] = json!(priority);
    }
    let headers: Vec<(&str, &str)> = args
        .idempotency_key
        .as_deref()
        .map(|key| ("Idempotency-Key", key))
        .into_iter()
        .collect();
    let reply = ctx.client.post("/v1/runs", Some(&body), &headers).await?;
    let run: Run = parse(&reply.body, "a run")?;
    let id = Uuid::parse_str(&run.id).map_err(|_| {
        CliError::Client(format!(
            "the api gave the run an id that is not a UUID: `{}`",
            run.id
        ))
    })?;
    let replayed = reply
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let note = if replayed {
        " (already submitted with this idempotency key)"
    } else {
        ""
    };

    if args.watch {
        if !ctx.json {
            emit(&format!("run {id} submitted{note}"));
        }
        return watch::follow_to_end(ctx, id).await;
    }
    if ctx.json {
        crate::render::emit_json(&reply.body);
    } else {
        emit(&format!(
            "run {id} submitted: {}{note}",
            ctx.style.status(&run.status, &run.status)
        ));
        eprintln!("follow it with: agent-runner watch {id}");
    }
    Ok(Exit::Success)
}

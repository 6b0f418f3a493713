//! `runs list` (one page, or every page with `--all`) and `runs show`.

use super::{Ctx, parse, projects};
use crate::cli::ListArgs;
use crate::exit::{CliError, Exit};
use crate::model::{Run, list_of};
use crate::render::{emit, emit_json, run_details, runs_table};
use serde_json::{Value, json};
use uuid::Uuid;

/// Page size of `--all` when `--limit` is not given.
const ALL_PAGE_SIZE: u32 = 200;

/// `runs list`.
pub async fn list(ctx: &Ctx, args: ListArgs) -> Result<Exit, CliError> {
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(status) = &args.status {
        query.push(("status", status.to_ascii_uppercase()));
    }
    if let Some(project) = &args.project {
        query.push((
            "project_id",
            projects::resolve(ctx, project).await?.to_string(),
        ));
    }
    let limit = args.limit.or(args.all.then_some(ALL_PAGE_SIZE));
    if let Some(limit) = limit {
        query.push(("limit", limit.to_string()));
    }

    let mut cursor = args.cursor.clone();
    let mut runs: Vec<Value> = Vec::new();
    let (document, next_cursor) = loop {
        let mut page_query = query.clone();
        if let Some(cursor) = &cursor {
            page_query.push(("cursor", cursor.clone()));
        }
        let page = ctx.client.get("/v1/runs", &page_query).await?;
        let next = page
            .get("next_cursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if !args.all {
            break (page, next);
        }
        runs.extend(
            page.get("runs")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
        // A cursor that does not move would loop forever.
        if next.is_none() || next == cursor {
            break (json!({"runs": runs, "next_cursor": null}), None);
        }
        cursor = next;
    };

    if ctx.json {
        emit_json(&document);
        return Ok(Exit::Success);
    }
    let shown: Vec<Run> = list_of(&document, "runs");
    if shown.is_empty() {
        eprintln!("no runs");
    } else {
        emit(&runs_table(&shown, ctx.style));
    }
    if let Some(cursor) = next_cursor {
        eprintln!("more runs: agent-runner runs list --cursor {cursor} (or --all)");
    }
    Ok(Exit::Success)
}

/// `runs show ID`.
pub async fn show(ctx: &Ctx, id: Uuid) -> Result<Exit, CliError> {
    let body = ctx.client.get(&format!("/v1/runs/{id}"), &[]).await?;
    if ctx.json {
        emit_json(&body);
    } else {
        let run: Run = parse(&body, "a run")?;
        emit(&run_details(&run, ctx.style));
    }
    Ok(Exit::Success)
}

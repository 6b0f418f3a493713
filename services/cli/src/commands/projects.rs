//! `projects add`, `projects update` and `projects list`, and the
//! name-to-id lookup that lets `--project` take either.

use super::{Ctx, parse};
use crate::cli::ProjectUpdateArgs;
use crate::exit::{CliError, Exit};
use crate::model::{Project, list_of};
use crate::render::{emit, emit_json, projects_table};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The id of `project`, given as an id or as a name.
pub async fn resolve(ctx: &Ctx, project: &str) -> Result<Uuid, CliError> {
    if let Ok(id) = Uuid::parse_str(project) {
        return Ok(id);
    }
    let body = ctx.client.get("/v1/projects", &[]).await?;
    let found = list_of::<Project>(&body, "projects")
        .into_iter()
        .find(|p| p.name == project);
    let project_row = found.ok_or_else(|| {
        CliError::Client(format!(
            "no project named `{project}` (see: agent-runner projects list)"
        ))
    })?;
    Uuid::parse_str(&project_row.id).map_err(|_| {
        CliError::Client(format!(
            "project `{project}` has an id that is not a UUID: `{}`",
            project_row.id
        ))
    })
}

/// `projects add NAME [--repo URL] [--branch B] [--setting K=V]…`.
pub async fn add(
    ctx: &Ctx,
    name: String,
    repo: Option<String>,
    branch: Option<String>,
    settings: Vec<(String, Value)>,
) -> Result<Exit, CliError> {
    let mut body = json!({"name": name});
    if !settings.is_empty() {
        body["settings"] = Value::Object(settings.into_iter().collect());
    }
    if let Some(repo) = repo {
        body["repo_url"] = Value::String(repo);
    }
    if let Some(branch) = branch {
        body["default_branch"] = Value::String(branch);
    }
    let reply = ctx.client.post("/v1/projects", Some(&body), &[]).await?;
    if ctx.json {
        emit_json(&reply.body);
    } else {
        let project: Project = parse(&reply.body, "a project")?;
        emit(&format!("project {} created: {}", project.name, project.id));
    }
    Ok(Exit::Success)
}

/// `projects update PROJECT [--repo URL | --no-repo] [--branch B]
/// [--setting K=V]… [--unset K]…`: only what is given changes.
pub async fn update(ctx: &Ctx, args: ProjectUpdateArgs) -> Result<Exit, CliError> {
    let id = resolve(ctx, &args.project).await?;
    let mut body = json!({});
    if let Some(repo) = args.repo {
        body["repo_url"] = Value::String(repo);
    } else if args.no_repo {
        body["repo_url"] = Value::Null;
    }
    if let Some(branch) = args.branch {
        body["default_branch"] = Value::String(branch);
    }
    let mut settings: Map<String, Value> = args.settings.into_iter().collect();
    settings.extend(args.unset.into_iter().map(|key| (key, Value::Null)));
    if !settings.is_empty() {
        body["settings"] = Value::Object(settings);
    }
    let project = ctx
        .client
        .patch(&format!("/v1/projects/{id}"), &body)
        .await?;
    if ctx.json {
        emit_json(&project);
    } else {
        let project: Project = parse(&project, "a project")?;
        emit(&format!(
            "project {} updated: repo {}, branch {}, settings {}",
            project.name,
            project.repo_url.as_deref().unwrap_or("(none)"),
            project.default_branch.as_deref().unwrap_or("(none)"),
            project.settings
        ));
    }
    Ok(Exit::Success)
}

/// `projects list`.
pub async fn list(ctx: &Ctx) -> Result<Exit, CliError> {
    let body = ctx.client.get("/v1/projects", &[]).await?;
    if ctx.json {
        emit_json(&body);
        return Ok(Exit::Success);
    }
    let projects: Vec<Project> = list_of(&body, "projects");
    if projects.is_empty() {
        eprintln!("no projects; add one with: agent-runner projects add NAME --repo URL");
    } else {
        emit(&projects_table(&projects, ctx.style));
    }
    Ok(Exit::Success)
}

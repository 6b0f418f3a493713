//! `/v1/projects`: create (the admin role), list, show (within the token's
//! projects).

use super::review::check_branch_name;
use crate::http::auth::{Principal, Role};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, parse_id};
use crate::state::AppState;
use agent_runner_domain::llm_settings::validate_project_settings;
use agent_runner_domain::repo::{RepoPolicy, RepoUrl};
use agent_runner_store::StoreError;
use agent_runner_store::projects::{self, NewProject, Project};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Body of `POST /v1/projects`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// Unique name, 1 to 200 bytes once trimmed.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// Git repository (local path or URL) the `llm` agent works on.
    #[serde(default)]
    repo_url: Option<String>,
    /// Branch runs start from; `main` when absent. A valid git branch name
    /// of at most 255 bytes.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    default_branch: Option<String>,
    /// Settings object (e.g. `{"require_approval": true}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    settings: Option<Value>,
}

/// `GET /v1/projects` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    /// Projects, newest first.
    pub projects: Vec<Project>,
}

const MAX_NAME_LEN: usize = 200;

/// Creates a project: 201, 409 when the name is taken, 422 when invalid.
#[utoipa::path(post, path = "/v1/projects", tag = "projects", security(("bearer" = [])),
    request_body = CreateProject,
    responses(
        (status = 201, description = "Created", body = Project),
        (status = 403, description = "The token's role is below admin", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Invalid project", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiJson(body): ApiJson<CreateProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    // A project names the repository workers clone and push to.
    principal.require(Role::Admin)?;
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ApiError::Validation(format!(
            "name must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    let settings = match body.settings {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(map)) => Value::Object(map),
        Some(_) => {
            return Err(ApiError::Validation(
                "settings must be a JSON object".into(),
            ));
        }
    };
    let settings = checked_settings(settings)?;
    let repo_url = checked_repo_url(body.repo_url, &state)?;
    let default_branch =
        checked_default_branch(body.default_branch.unwrap_or_else(|| "main".into()))?;
    let new = NewProject {
        name,
        repo_url,
        default_branch,
        settings,
    };
    match projects::create(&state.pool, &new).await {
        Ok(project) => Ok((StatusCode::CREATED, Json(project))),
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict(format!(
            "a project named `{}` already exists",
            new.name
        ))),
        Err(err) => Err(err.into()),
    }
}

/// Lists projects, newest first (only the token's, when it is scoped).
#[utoipa::path(get, path = "/v1/projects", tag = "projects", security(("bearer" = [])),
    responses((status = 200, body = ProjectList)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<ProjectList>, ApiError> {
    let projects = projects::list(&state.pool, 1000, principal.scope()).await?;
    Ok(Json(ProjectList { projects }))
}

/// Shows one project.
#[utoipa::path(get, path = "/v1/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses((status = 200, body = Project), (status = 404, description = "No such project, or not one of the token's", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Project>, ApiError> {
    let id = parse_id(&id, "project")?;
    projects::get_in(&state.pool, id, principal.scope())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no project with id `{id}`")))
}

/// The settings if the keys the agent reads are well-typed (422 otherwise).
pub(super) fn checked_settings(settings: Value) -> Result<Value, ApiError> {
    validate_project_settings(&settings)
        .map_err(|e| ApiError::Validation(format!("settings: {e}")))?;
    if let Some(Value::String(branch)) = settings.get("merge_into") {
        check_branch_name(branch)?;
    }
    Ok(settings)
}

/// A repository URL trimmed (empty means none) and checked against the
/// rules of [`agent_runner_domain::repo`] under `AGENT_ALLOW_LOCAL_REPOS`.
pub(super) fn checked_repo_url(
    repo_url: Option<String>,
    state: &AppState,
) -> Result<Option<String>, ApiError> {
    let Some(url) = repo_url
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    let policy = RepoPolicy {
        allow_local: state.config.allow_local_repos,
    };
    RepoUrl::parse(&url, policy).map_err(|e| ApiError::Validation(format!("repo_url {e}")))?;
    Ok(Some(url))
}

/// A default branch by `git check-ref-format --branch` rules (422 otherwise).
pub(super) fn checked_default_branch(branch: String) -> Result<String, ApiError> {
    agent_runner_domain::repo::check_branch_name(&branch).map_err(|e| {
        ApiError::Validation(format!("default_branch is not a valid branch name: it {e}"))
    })?;
    Ok(branch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_states_the_longest_project_name() {
        let schema = serde_json::to_value(<CreateProject as utoipa::PartialSchema>::schema())
            .expect("schema serialises");
        assert_eq!(schema["properties"]["name"]["maxLength"], MAX_NAME_LEN);
    }
}

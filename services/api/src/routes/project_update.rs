//! `PATCH /v1/projects/{id}`: change a project's repository, default branch
//! or settings. Settings are merged key by key (a key set to `null` is
//! removed), checked as at creation, and written under a row lock, so two
//! changes at once never lose one another's keys. Runs read the project as
//! it is when their attempt starts. The admin role only: a project names the
//! repository workers clone and push to.
//!
//! Secrets are answered masked, so a client that reads a project, changes
//! one thing and sends the rest back would send the mask: a secret setting
//! given as `"***"`, or a `repo_url` that is the masked form of the stored
//! one, leaves the stored secret as it is.

use super::projects::{checked_default_branch, checked_repo_url, checked_settings};
use crate::http::auth::{Principal, Role};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, parse_id};
use crate::state::AppState;
use agent_runner_domain::secret::{MASK, is_masked_form_of, is_secret_name};
use agent_runner_store::projects::{self, Project, ProjectChange};
use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Body of `PATCH /v1/projects/{id}`: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    /// A new repository; `null` or `""` leaves the project without one.
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    repo_url: Option<Option<String>>,
    /// A new branch runs start from: a valid git branch name of at most 255
    /// bytes.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    default_branch: Option<String>,
    /// Keys to set in the settings; a key set to `null` is removed.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    settings: Option<Value>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn given<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Changes a project: 200 with the project as it now is.
#[utoipa::path(patch, path = "/v1/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    request_body = UpdateProject,
    responses(
        (status = 200, description = "Changed", body = Project),
        (status = 403, description = "The token's role is below admin", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 422, description = "An unknown field (the name can not change), or a value that is not valid; nothing changed", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateProject>,
) -> Result<Json<Project>, ApiError> {
    principal.require(Role::Admin)?;
    let id = parse_id(&id, "project")?;
    let patch = match body.settings {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(ApiError::Validation(
                "settings must be a JSON object".into(),
            ));
        }
    };
    let default_branch = body
        .default_branch
        .map(checked_default_branch)
        .transpose()?;
    let changed = projects::update(&state.pool, id, |current| {
        let mut settings = current.settings.as_object().cloned().unwrap_or_default();
        for (key, value) in patch {
            if value == MASK && is_secret_name(&key) && settings.contains_key(&key) {
                continue;
            }
            if value.is_null() {
                settings.remove(&key);
            } else {
                settings.insert(key, value);
            }
        }
        Ok::<_, ApiError>(ProjectChange {
            repo_url: match body.repo_url {
                Some(Some(url))
                    if current
                        .repo_url
                        .as_deref()
                        .is_some_and(|stored| is_masked_form_of(&url, stored)) =>
                {
                    current.repo_url.clone()
                }
                Some(repo_url) => checked_repo_url(repo_url, &state)?,
                None => current.repo_url.clone(),
            },
            default_branch: default_branch.unwrap_or_else(|| current.default_branch.clone()),
            settings: checked_settings(Value::Object(settings))?,
        })
    })
    .await?;
    match changed {
        Some(Ok(project)) => {
            tracing::info!(project.id = %project.id, "project changed");
            Ok(Json(project))
        }
        Some(Err(refused)) => Err(refused),
        None => Err(ApiError::NotFound(format!("no project with id `{id}`"))),
    }
}

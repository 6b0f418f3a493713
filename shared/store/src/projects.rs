//! Projects: what runs work on.

use crate::StoreError;
use crate::access::Scope;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

/// A project row.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Project {
    /// Project id.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Git repository (local path or URL), if any; answered with its
    /// credentials masked ([`agent_runner_domain::secret`]).
    #[serde(serialize_with = "agent_runner_domain::secret::serialize_masked_url")]
    pub repo_url: Option<String>,
    /// Branch runs start from.
    pub default_branch: String,
    /// Project settings (e.g. `require_approval`); answered with secrets
    /// masked.
    #[serde(serialize_with = "agent_runner_domain::secret::serialize_masked_json")]
    pub settings: Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Columns selected for a [`Project`], in [`Project::from_row`] order.
pub(crate) const COLUMNS: &str = "id, name, repo_url, default_branch, settings, created_at";
/// How many columns [`COLUMNS`] names.
pub(crate) const COLUMN_COUNT: usize = 6;

impl Project {
    pub(crate) fn from_row(row: &Row) -> Self {
        Self::from_row_at(row, 0)
    }

    /// Reads a project from `row` starting at column `offset`.
    pub(crate) fn from_row_at(row: &Row, offset: usize) -> Self {
        Project {
            id: row.get(offset),
            name: row.get(offset + 1),
            repo_url: row.get(offset + 2),
            default_branch: row.get(offset + 3),
            settings: row.get(offset + 4),
            created_at: row.get(offset + 5),
        }
    }
}

/// What a new project needs.
#[derive(Debug, Clone)]
pub struct NewProject {
    /// Unique name.
    pub name: String,
    /// Git repository, if any.
    pub repo_url: Option<String>,
    /// Branch runs start from.
    pub default_branch: String,
    /// Settings object.
    pub settings: Value,
}

/// Creates a project; a taken name gives [`StoreError::Conflict`].
pub async fn create(pool: &Pool, new: &NewProject) -> Result<Project, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            &format!(
                "INSERT INTO projects (id, name, repo_url, default_branch, settings)
                 VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
            ),
            &[
                &Uuid::now_v7(),
                &new.name,
                &new.repo_url,
                &new.default_branch,
                &new.settings,
            ],
        )
        .await?;
    Ok(Project::from_row(&row))
}

/// Looks a project up by id.
pub async fn get(pool: &Pool, id: Uuid) -> Result<Option<Project>, StoreError> {
    get_in(pool, id, Scope::ALL).await
}

/// Looks a project up by id, if `scope` covers it.
pub async fn get_in(
    pool: &Pool,
    id: Uuid,
    scope: Scope<'_>,
) -> Result<Option<Project>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM projects
                 WHERE id = $1 AND ($2::uuid[] IS NULL OR id = ANY($2))"
            ),
            &[&id, &scope.param()],
        )
        .await?;
    Ok(row.as_ref().map(Project::from_row))
}

/// Looks a project up by its name.
pub async fn find_by_name(pool: &Pool, name: &str) -> Result<Option<Project>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM projects WHERE name = $1"),
            &[&name],
        )
        .await?;
    Ok(row.as_ref().map(Project::from_row))
}

/// Lists the projects `scope` covers, newest first, at most `limit`.
pub async fn list(pool: &Pool, limit: i64, scope: Scope<'_>) -> Result<Vec<Project>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM projects
                 WHERE $2::uuid[] IS NULL OR id = ANY($2)
                 ORDER BY id DESC LIMIT $1"
            ),
            &[&limit, &scope.param()],
        )
        .await?;
    Ok(rows.iter().map(Project::from_row).collect())
}

/// A project's editable fields, as they are to become.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectChange {
    /// Git repository, if any.
    pub repo_url: Option<String>,
    /// Branch runs start from.
    pub default_branch: String,
    /// Settings object.
    pub settings: Value,
}

/// Changes a project under a row lock: `change` sees the project as it is
/// and says what it becomes, or why not (then nothing changes). `None`
/// when there is no such project.
pub async fn update<E>(
    pool: &Pool,
    id: Uuid,
    change: impl FnOnce(&Project) -> Result<ProjectChange, E>,
) -> Result<Option<Result<Project, E>>, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some(row) = tx
        .query_opt(
            &format!("SELECT {COLUMNS} FROM projects WHERE id = $1 FOR UPDATE"),
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let next = match change(&Project::from_row(&row)) {
        Ok(next) => next,
        Err(refused) => return Ok(Some(Err(refused))),
    };
    let row = tx
        .query_one(
            &format!(
                "UPDATE projects SET repo_url = $2, default_branch = $3, settings = $4
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&id, &next.repo_url, &next.default_branch, &next.settings],
        )
        .await?;
    tx.commit().await?;
    Ok(Some(Ok(Project::from_row(&row))))
}

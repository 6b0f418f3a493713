//! `GET /v1/projects/{id}/usage`: what a project spent — the tokens its
//! runs' model calls reported and the runs it started, by UTC day — beside
//! its token budgets. Within the token's projects, like the project itself.

use crate::http::auth::Principal;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, ApiQuery, parse_id};
use crate::state::AppState;
use agent_runner_domain::budget::{OverBudget, TokenBudget};
use agent_runner_store::projects;
use agent_runner_store::usage::{self, PeriodUsage};
use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most days one answer lists.
const MAX_DAYS: i32 = 366;
/// Days listed when the query names none.
const DEFAULT_DAYS: i32 = 30;

/// Query of the usage.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Days listed, today first, 1 to 366 (default 30).
    #[serde(default)]
    #[param(minimum = 1, maximum = 366)]
    days: Option<i32>,
}

/// `GET /v1/projects/{id}/usage` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectUsage {
    /// The project.
    pub project_id: Uuid,
    /// Its token budgets (`settings.token_budget_daily`, `…_monthly`,
    /// `over_budget`).
    pub budget: TokenBudget,
    /// The budget used up, if one is (the daily one first).
    pub exceeded: Option<OverBudget>,
    /// Today (UTC).
    pub today: PeriodUsage,
    /// This calendar month (UTC); `day` is its first day.
    pub this_month: PeriodUsage,
    /// Each of the last `days` days, today first, days without use too.
    pub days: Vec<PeriodUsage>,
}

/// A project's tokens and runs by day, and its budgets.
#[utoipa::path(get, path = "/v1/projects/{id}/usage", tag = "projects", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Project id"), UsageQuery),
    responses(
        (status = 200, body = ProjectUsage),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 404, description = "No such project, or not one of the token's", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<ProjectUsage>, ApiError> {
    let id = parse_id(&id, "project")?;
    let days = query.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::BadRequest(format!(
            "days must be between 1 and {MAX_DAYS}"
        )));
    }
    let project = projects::get_in(&state.pool, id, principal.scope())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no project with id `{id}`")))?;
    // Settings are checked when written; a row that holds bad ones shows
    // no budget rather than failing the read.
    let budget = TokenBudget::from_settings(&project.settings).unwrap_or_default();
    let spent = usage::by_day(&state.pool, id, days).await?;
    let used = |period: &PeriodUsage| u64::try_from(period.tokens).unwrap_or(0);
    Ok(Json(ProjectUsage {
        project_id: id,
        budget,
        exceeded: budget.exceeded(used(&spent.today), used(&spent.this_month)),
        today: spent.today,
        this_month: spent.this_month,
        days: spent.days,
    }))
}

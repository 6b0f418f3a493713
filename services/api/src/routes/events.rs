//! `/v1/runs/{id}/events`: the run's timeline after a given seq.

use crate::http::auth::{self, Principal};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, ApiQuery, parse_id};
use crate::state::AppState;
use agent_runner_store::{events, runs};
use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query of the events listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events with a greater `seq` (default 0: from the start).
    #[serde(default)]
    #[param(minimum = 0)]
    after: Option<i32>,
    /// At most this many events, 1 to 1000 (default 1000).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A slice of a run's timeline, in `seq` order.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// The events.
    pub events: Vec<events::Event>,
}

/// Events with `seq > after` (default 0), at most `limit` (default 1000).
#[utoipa::path(get, path = "/v1/runs/{id}/events", tag = "events", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id"), EventsQuery),
    responses(
        (status = 200, body = EventList),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 404, description = "No such run, or not in the token's projects", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<EventList>, ApiError> {
    let id = parse_id(&id, "run")?;
    auth::run_in_scope(&state.pool, &principal, id).await?;
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::BadRequest("after must not be negative".into()));
    }
    let limit = query.limit.unwrap_or(1000);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 1000".into(),
        ));
    }
    let events = events::list(&state.pool, id, after, limit).await?;
    if events.is_empty() && runs::get(&state.pool, id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no run with id `{id}`")));
    }
    Ok(Json(EventList { events }))
}

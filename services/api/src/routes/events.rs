//! `/v1/runs/{id}/events`: the run's timeline after a given seq.

use crate::error::ApiError;
use crate::extract::{ApiQuery, parse_id};
use crate::state::AppState;
use agent_runner_store::{events, runs};
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

/// Query of the events listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    #[serde(default)]
    after: Option<i32>,
    #[serde(default)]
    limit: Option<i64>,
}

/// Events with `seq > after` (default 0), at most `limit` (default 1000).
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "run")?;
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
    Ok(Json(json!({"events": events})))
}

//! `GET /v1/runs/{id}/events/stream`: the run's timeline as Server-Sent
//! Events. Each event carries `id: <seq>` and `event: <kind>`, so a client
//! resumes with `Last-Event-ID` (or `?after=`). The stream ends once the run
//! is terminal (or awaiting approval) and every event has been sent. It
//! learns that there are new events from [`crate::background::run_watch`], and only then
//! reads them.

use crate::background::run_watch::Subscription;
use crate::http::auth::Principal;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, ApiQuery, parse_id};
use crate::state::AppState;
use agent_runner_store::{Pool, events, runs};
use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// How long a stream waits before reading again after a failed read, or
/// when the run's progress and its events disagree for a moment.
const RETRY: Duration = Duration::from_millis(200);

/// Query of the stream.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Start after this `seq` when there is no `Last-Event-ID` (a negative
    /// one reads as 0).
    #[serde(default)]
    after: Option<i32>,
}

/// One Server-Sent Event of the stream: the fields of its `id:`, `event:`
/// and `data:` lines. (OpenAPI 3.1 has the schema of a `text/event-stream`
/// describe each event.)
#[derive(ToSchema)]
pub struct StreamEvent {
    /// The event's `seq`.
    #[schema(pattern = "^[0-9]+$")]
    pub id: String,
    /// The event's `kind` (`RUN_CREATED`, `RUN_STARTED`, …).
    pub event: String,
    /// The event as JSON, as `GET /v1/runs/{id}/events` lists it.
    pub data: String,
}

/// Streams the run's events after `Last-Event-ID` (or `after`).
#[utoipa::path(get, path = "/v1/runs/{id}/events/stream", tag = "events", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Run id"),
        ("Last-Event-ID" = Option<i32>, Header, description = "Resume after this seq"),
        StreamQuery,
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `id` = seq, `event` = kind, `data` = the event as JSON; ends after the terminal event",
         content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "Bad Last-Event-ID or query", body = ErrorBody),
        (status = 404, description = "No such run, or not in the token's projects", body = ErrorBody),
    ))]
pub async fn stream(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = parse_id(&id, "run")?;
    // Checked once: a run never changes project.
    if !runs::in_scope(&state.pool, id, principal.scope()).await? {
        return Err(ApiError::NotFound(format!("no run with id `{id}`")));
    }
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be an event seq".into()))
        })
        .transpose()?;
    let after = last_event_id.or(query.after).unwrap_or(0).max(0);
    let cursor = Cursor {
        pool: state.pool.clone(),
        run_id: id,
        after,
        pending: VecDeque::new(),
        watch: state.watch.subscribe(id),
    };
    Ok(Sse::new(stream::unfold(cursor, next_event)).keep_alive(KeepAlive::default()))
}

struct Cursor {
    pool: Pool,
    run_id: Uuid,
    after: i32,
    pending: VecDeque<events::Event>,
    watch: Subscription,
}

async fn next_event(mut cursor: Cursor) -> Option<(Result<Event, Infallible>, Cursor)> {
    loop {
        if let Some(event) = cursor.pending.pop_front() {
            cursor.after = event.seq;
            return Some((Ok(to_sse(&event)), cursor));
        }
        let progress = *cursor.watch.progress.borrow_and_update();
        if let Some(progress) = progress
            && cursor.after >= progress.last_seq
        {
            // Everything up to the polled `last_seq` was sent. A settled
            // run's `last_seq` is its final event: it was read in the same
            // row as the status.
            if progress.settled {
                return None;
            }
            cursor.watch.progress.changed().await.ok()?;
            continue;
        }
        match events::list(&cursor.pool, cursor.run_id, cursor.after, 500).await {
            Ok(batch) if !batch.is_empty() => cursor.pending.extend(batch),
            // Not polled yet: wait for the first poll.
            Ok(_) if progress.is_none() => cursor.watch.progress.changed().await.ok()?,
            Ok(_) => tokio::time::sleep(RETRY).await,
            Err(err) => {
                tracing::warn!(run.id = %cursor.run_id, error = %err, "event stream read failed");
                tokio::time::sleep(RETRY * 5).await;
            }
        }
    }
}

fn to_sse(event: &events::Event) -> Event {
    let sse = StreamEvent {
        id: event.seq.to_string(),
        event: event.kind.clone(),
        data: serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned()),
    };
    Event::default().id(sse.id).event(sse.event).data(sse.data)
}

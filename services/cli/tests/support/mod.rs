//! A scripted stand-in for the agent-runner api, served by axum on
//! 127.0.0.1:0: enough of `/v1` for the binary to submit, list and watch one
//! run whose timeline follows a [`Scenario`]. It records what it was sent so
//! tests can check the requests too.

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The one run the fake knows.
pub const RUN_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-000000000001";
/// The one project the fake knows, named [`PROJECT_NAME`].
pub const PROJECT_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000aa";
/// Name of the project.
pub const PROJECT_NAME: &str = "demo";
/// The only token the fake accepts.
pub const TOKEN: &str = "secret-token";

/// How the run's timeline goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Six events ending with RUN_COMPLETED.
    Completes,
    /// Six events ending with RUN_FAILED.
    Fails,
    /// Six events ending with AWAITING_APPROVAL.
    AwaitsApproval,
    /// Completes, but the first stream connection drops after three events.
    DropsOnce,
    /// Completes, on an api without the stream endpoint (404 `not_found`).
    NoStream,
}

/// What the fake was sent.
#[derive(Debug, Default)]
pub struct Seen {
    /// Bodies of `POST /v1/runs`, with their `Idempotency-Key`.
    pub submissions: Vec<(Value, Option<String>)>,
    /// `Last-Event-ID` of each stream request.
    pub last_event_ids: Vec<Option<String>>,
}

/// A running fake api.
pub struct FakeApi {
    /// Its base URL.
    pub url: String,
    /// What it was sent so far.
    pub seen: Arc<Mutex<Seen>>,
}

#[derive(Clone)]
struct AppState {
    scenario: Scenario,
    seen: Arc<Mutex<Seen>>,
    /// The run's final event was served: from now on the run shows its final status.
    finished: Arc<AtomicBool>,
}

/// Starts a fake api playing `scenario`.
pub async fn spawn(scenario: Scenario) -> FakeApi {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = AppState {
        scenario,
        seen: seen.clone(),
        finished: Arc::new(AtomicBool::new(false)),
    };
    let v1 = Router::new()
        .route("/v1/projects", get(projects))
        .route("/v1/runs", get(list_runs).post(submit))
        .route("/v1/runs/{id}", get(show_run))
        .route("/v1/runs/{id}/events", get(events))
        .route("/v1/runs/{id}/events/stream", get(stream))
        .route_layer(middleware::from_fn(authenticate));
    let app = v1.fallback(no_such_route).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakeApi { url, seen }
}

fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn authenticate(request: Request, next: Next) -> Response {
    let expected = format!("Bearer {TOKEN}");
    let authorized = request
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v == expected.as_str());
    if authorized {
        next.run(request).await
    } else {
        api_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }
}

async fn no_such_route() -> Response {
    api_error(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn projects() -> Json<Value> {
    Json(json!({"projects": [{
        "id": PROJECT_ID, "name": PROJECT_NAME, "repo_url": null, "default_branch": "main",
        "settings": {}, "created_at": "2024-05-01T12:00:00Z"
    }]}))
}

fn run_json(status: &str, id: &str) -> Value {
    let error = (status == "FAILED").then_some("simulated fatal failure");
    json!({
        "id": id, "project_id": PROJECT_ID, "goal": "add a README", "agent": "simulated",
        "params": {}, "status": status, "attempt": 1, "max_attempts": 3, "timeout_s": 600,
        "worker_id": null, "lease_until": null, "error": error, "result": null,
        "cancel_requested": false, "created_at": "2024-05-01T12:00:00Z",
        "started_at": null, "finished_at": null, "updated_at": "2024-05-01T12:00:00Z"
    })
}

async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state
        .seen
        .lock()
        .expect("lock")
        .submissions
        .push((body, key));
    (StatusCode::CREATED, Json(run_json("QUEUED", RUN_ID))).into_response()
}

#[derive(Deserialize)]
struct ListQuery {
    cursor: Option<String>,
}

async fn list_runs(Query(query): Query<ListQuery>) -> Json<Value> {
    match query.cursor.as_deref() {
        None => Json(json!({"runs": [run_json("COMPLETED", RUN_ID)], "next_cursor": "page-2"})),
        Some(_) => Json(json!({
            "runs": [run_json("FAILED", "0190a1b2-c3d4-7e5f-8a9b-000000000002")],
            "next_cursor": null
        })),
    }
}

fn final_event(scenario: Scenario) -> (&'static str, &'static str, Value) {
    match scenario {
        Scenario::Fails => (
            "RUN_FAILED",
            "FAILED",
            json!({"attempt": 1, "error": "simulated fatal failure"}),
        ),
        Scenario::AwaitsApproval => (
            "AWAITING_APPROVAL",
            "AWAITING_APPROVAL",
            json!({"attempt": 1}),
        ),
        _ => ("RUN_COMPLETED", "COMPLETED", json!({"attempt": 1})),
    }
}

/// The run's whole timeline.
fn timeline(scenario: Scenario) -> Vec<Value> {
    let (last_kind, _, last_payload) = final_event(scenario);
    let steps = [
        ("RUN_CREATED", 0, json!({})),
        ("RUN_STARTED", 1, json!({"worker_id": "worker-1"})),
        (
            "AGENT_THINKING",
            1,
            json!({"message": "analysing the goal"}),
        ),
        (
            "PLAN_GENERATED",
            1,
            json!({"plan": ["understand the goal", "make the change", "verify"]}),
        ),
        ("EXECUTING", 1, json!({"step": "make the change"})),
        (last_kind, 1, last_payload),
    ];
    steps
        .into_iter()
        .enumerate()
        .map(|(i, (kind, attempt, payload))| {
            json!({
                "seq": i + 1, "attempt": attempt, "kind": kind, "payload": payload,
                "created_at": format!("2024-05-01T12:00:0{i}Z")
            })
        })
        .collect()
}

/// Events after `after`, marking the run finished when the last one goes out.
fn events_after(state: &AppState, after: i64, upto: usize) -> Vec<Value> {
    let all = timeline(state.scenario);
    let served: Vec<Value> = all
        .iter()
        .take(upto)
        .filter(|e| e["seq"].as_i64().unwrap_or(0) > after)
        .cloned()
        .collect();
    if served.last().is_some_and(|e| e["seq"] == all.len()) {
        state.finished.store(true, Ordering::SeqCst);
    }
    served
}

async fn show_run(State(state): State<AppState>) -> Json<Value> {
    let status = if state.finished.load(Ordering::SeqCst) {
        final_event(state.scenario).1
    } else {
        "RUNNING"
    };
    Json(run_json(status, RUN_ID))
}

#[derive(Deserialize)]
struct EventsQuery {
    after: Option<i64>,
}

async fn events(State(state): State<AppState>, Query(query): Query<EventsQuery>) -> Json<Value> {
    Json(json!({"events": events_after(&state, query.after.unwrap_or(0), usize::MAX)}))
}

async fn stream(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.scenario == Scenario::NoStream {
        return no_such_route().await;
    }
    let last_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state
        .seen
        .lock()
        .expect("lock")
        .last_event_ids
        .push(last_id.clone());
    let after = last_id
        .as_deref()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    let upto = if state.scenario == Scenario::DropsOnce && last_id.is_none() {
        3
    } else {
        usize::MAX
    };
    let mut body = String::from(": stream opened\n\n");
    for event in events_after(&state, after, upto) {
        body.push_str(&format!(
            "id: {}\r\nevent: {}\r\ndata: {event}\r\n\r\n",
            event["seq"],
            event["kind"].as_str().unwrap_or("message")
        ));
    }
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

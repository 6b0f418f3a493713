//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`:
//! Postgres answers and the RabbitMQ publisher is connected).

use crate::state::AppState;
use agent_runner_store::pool;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Always 200 while the process serves requests.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when both dependencies are usable, 503 naming the failing one otherwise.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let postgres = match pool::ping(&state.pool).await {
        Ok(()) => "ok".to_owned(),
        Err(err) => err.to_string(),
    };
    let rabbitmq = if state.broker.is_connected() {
        "ok"
    } else {
        "not connected"
    };
    let ready = postgres == "ok" && rabbitmq == "ok";
    let checks = json!({"postgres": postgres, "rabbitmq": rabbitmq});
    if ready {
        (
            StatusCode::OK,
            Json(json!({"status": "ready", "checks": checks})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "error": {"code": "not_ready", "message": "a dependency is unavailable"},
                "checks": checks,
            })),
        )
    }
}

//! The worker's small HTTP surface for probes: `/healthz`.

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

/// Router for the worker's probe port.
pub fn router() -> Router {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

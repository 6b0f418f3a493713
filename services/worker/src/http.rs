//! The worker's HTTP surface for probes and scraping: `/healthz`, `/metrics`.

use crate::metrics::WorkerMetrics;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// Router for the worker's probe port.
pub fn router(metrics: WorkerMetrics) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render))
        .with_state(metrics)
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn render(State(metrics): State<WorkerMetrics>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}

//! `GET /metrics`: the api's Prometheus metrics. Unauthenticated, like the
//! workers' (scrapers rarely hold tokens); it reveals counts, never run
//! contents. Keep the port off the public internet or filter the path at the
//! ingress.

use crate::state::AppState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

/// The Prometheus text exposition, gauges refreshed now.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4",
               content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.refresh(&state.pool, &state.broker).await;
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

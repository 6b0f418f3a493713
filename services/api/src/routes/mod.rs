//! The HTTP surface: `/healthz`, `/readyz` and the authenticated `/v1` api.

mod diff;
mod events;
mod exec;
mod health;
mod messages;
mod projects;
mod requests;
mod review;
mod runs;
mod stream;
mod workers;

use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/projects", post(projects::create).get(projects::list))
        .route("/projects/{id}", get(projects::show))
        .route("/runs", post(runs::create).get(runs::list))
        .route("/runs/{id}", get(runs::show))
        .route("/runs/{id}/cancel", post(runs::cancel))
        .route("/runs/{id}/retry", post(runs::retry))
        .route("/runs/{id}/events", get(events::list))
        .route("/runs/{id}/events/stream", get(stream::stream))
        .route("/runs/{id}/diff", get(diff::show))
        .route("/runs/{id}/messages", post(messages::post))
        .route("/runs/{id}/approve", post(review::approve))
        .route("/runs/{id}/reject", post(review::reject))
        .route("/runs/{id}/exec", post(exec::exec))
        .route("/runs/{id}/requests/{request_id}", get(requests::show))
        .route("/workers", get(workers::list))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest("/v1", v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

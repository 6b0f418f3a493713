//! The HTTP surface: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`,
//! the console's sign-in (`/v1/session`), the authenticated `/v1` api, and
//! the console's page ([`crate::console`]).
//!
//! Every route is registered with `routes!(handler)`: the handler's
//! `#[utoipa::path]` gives its method and path to the router and its
//! documentation to `/openapi.json` in one step, so the document lists
//! exactly what is served. (`Router::route` is banned in this crate by
//! `clippy.toml` for that reason.) Adding a route is one `.routes(...)` line.

mod diff;
mod events;
mod exec;
mod health;
mod messages;
mod metrics;
mod openapi;
mod project_update;
mod projects;
mod requests;
mod review;
mod runs;
mod session;
mod stats;
mod stream;
mod usage;
pub(crate) mod workers;

use crate::http::auth;
use crate::http::error::ApiError;
use crate::http::request_metrics;
use crate::http::request_trace;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router, middleware};
use std::sync::Arc;
use std::time::Duration;
use tower_http::timeout::RequestBodyTimeoutLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route with its documentation, before state and layers common to all.
fn documented(state: &AppState) -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(projects::create, projects::list))
        .routes(routes!(projects::show, project_update::update))
        .routes(routes!(usage::show))
        .routes(routes!(runs::create, runs::list))
        .routes(routes!(runs::show))
        .routes(routes!(runs::cancel))
        .routes(routes!(runs::retry))
        .routes(routes!(events::list))
        .routes(routes!(stream::stream))
        .routes(routes!(diff::show))
        .routes(routes!(messages::post))
        .routes(routes!(review::approve))
        .routes(routes!(review::reject))
        .routes(routes!(exec::exec))
        .routes(routes!(requests::show))
        .routes(routes!(workers::list))
        .routes(routes!(stats::show))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    OpenApiRouter::with_openapi(crate::openapi::frame())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::render))
        .routes(routes!(openapi::document))
        .routes(routes!(session::create, session::show, session::delete))
        .merge(v1)
}

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    let (routes, mut document) = documented(&state).split_for_parts();
    crate::openapi::add_shared_responses(&mut document);
    let document = document.to_json().expect("the OpenAPI document serialises");
    routes
        // A route layer runs after routing, so it sees the route template.
        .route_layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            request_metrics::track,
        ))
        .merge(crate::console::pages::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(openapi::Document(Arc::new(document))))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(
            state.config.body_read_timeout_s,
        )))
        // Failures are logged once, where they are handled (`ApiError`), not
        // again for each 5xx status: a `/readyz` 503 while a dependency is
        // down is an answer, not an error of the api.
        .layer(tower_http::trace::TraceLayer::new_for_http().on_failure(()))
        .layer(middleware::from_fn(request_trace::trace))
        .layer(crate::http::panic_guard::layer())
        .layer(middleware::from_fn(crate::http::security_headers::add))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

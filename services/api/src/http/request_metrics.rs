//! Counts and times every request a route answered, labelled with the
//! route's template (`/v1/runs/{id}`), never the raw path, so the number of
//! series stays bounded whatever ids clients send.

use crate::metrics::ApiMetrics;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// Middleware (installed as a route layer, so routing has matched first).
pub async fn track(State(metrics): State<ApiMetrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let began = Instant::now();
    let response = next.run(request).await;
    metrics
        .http_duration
        .with_label_values(&[route.as_str(), method.as_str()])
        .observe(began.elapsed().as_secs_f64());
    metrics
        .http_requests
        .with_label_values(&[route.as_str(), method.as_str(), response.status().as_str()])
        .inc();
    response
}

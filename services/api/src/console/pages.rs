//! The console's routes: `/` redirects to `/ui/`; `/ui/assets/{path}`
//! answers an embedded file (404 with the JSON error body when there is
//! none); every other `/ui/…` path answers the page, whose modules route on
//! the client, so that a reload or a link to `/ui/runs/{id}` works.
//!
//! The page gets a Content-Security-Policy that allows its own scripts,
//! styles and requests and nothing else: no inline script, no other
//! origin, no framing.

use super::assets::{self, Asset};
use crate::http::error::ApiError;
use crate::http::extract::ApiPath;
use crate::state::AppState;
use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The page's policy: its own origin only, nothing inline.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The console's routes. They are not API operations, so they are added
/// with `Router::route` rather than documented with `routes!` (see
/// `crate::routes`).
#[allow(clippy::disallowed_methods)]
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(page))
        .route("/ui/assets/{*path}", get(asset))
        .route("/ui/{*route}", get(page))
}

async fn page() -> Response {
    answer(assets::index())
}

async fn asset(ApiPath(path): ApiPath<String>) -> Result<Response, ApiError> {
    assets::get(&path)
        .map(answer)
        .ok_or_else(|| ApiError::NotFound(format!("no console file `{path}`")))
}

fn answer(asset: Asset) -> Response {
    let mut response = (StatusCode::OK, asset.bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    // Revalidated on every load: a new api version serves new modules.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

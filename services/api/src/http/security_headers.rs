//! Headers on every answer of the api, errors included: the api answers
//! data, never pages to be framed, sniffed or cached.
//!
//! - `X-Content-Type-Options: nosniff`: a JSON body is never run as script.
//! - `Cache-Control: no-store`: runs, diffs and tokens' views are not kept
//!   by browsers or proxies.
//! - `X-Frame-Options: DENY` and a `Content-Security-Policy` that allows
//!   nothing (`default-src 'none'; frame-ancestors 'none'`).
//! - `Referrer-Policy: no-referrer`.
//!
//! A handler that sets one of these itself (e.g. a page with its own
//! policy) keeps its value.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, HeaderName, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, Request};
use axum::middleware::Next;
use axum::response::Response;

/// The headers and their values.
const HEADERS: &[(HeaderName, &str)] = &[
    (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (CACHE_CONTROL, "no-store"),
    (X_FRAME_OPTIONS, "DENY"),
    (
        CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (REFERRER_POLICY, "no-referrer"),
];

/// Adds [`HEADERS`] to the answer where the handler did not set them.
pub async fn add(request: Request<axum::body::Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), HeaderValue::from_static(value));
        }
    }
    response
}

//! `GET /openapi.json`: the OpenAPI 3 document of this api, built from the
//! same registrations as the router.

use axum::Extension;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use std::sync::Arc;

/// The document, serialised once when the router is built.
#[derive(Clone)]
pub struct Document(pub Arc<String>);

/// Serves the document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", content_type = "application/json",
               body = serde_json::Value)))]
pub async fn document(Extension(document): Extension<Document>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        document.0.as_str().to_owned(),
    )
}

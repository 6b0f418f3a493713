//! The OpenAPI 3 document's frame: title, version, tags, the bearer security
//! scheme and the error body. The paths themselves are added by
//! [`crate::routes`] from each handler's `#[utoipa::path]`, in the same call
//! that adds the handler to the router, so a route cannot be served without
//! being documented.

use crate::error::ErrorBody;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Name of the security scheme the `/v1` routes require.
pub const BEARER: &str = "bearer";

/// The document before any path is added.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "agent-runner api",
        description = "Submit runs of coding agents, follow their timelines, cancel and retry them. \
                       Every error answers `{\"error\": {\"code\", \"message\"}}`.",
    ),
    modifiers(&BearerScheme),
    components(schemas(ErrorBody)),
    tags(
        (name = "runs", description = "Submit, read, cancel and retry runs"),
        (name = "events", description = "A run's timeline, as JSON pages or Server-Sent Events"),
        (name = "projects", description = "What runs work on"),
        (name = "workers", description = "Live workers"),
        (name = "operations", description = "Probes, metrics and this document; no token needed"),
    )
)]
pub struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token created with `agent-runner-api token create`"))
                    .build(),
            ),
        );
    }
}

/// The frame with the crate's version filled in.
pub fn frame() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

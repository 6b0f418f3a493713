//! The OpenAPI 3 document's frame: title, version, tags, the bearer security
//! scheme and the error body. The paths themselves are added by
//! [`crate::routes`] from each handler's `#[utoipa::path]`, in the same call
//! that adds the handler to the router, so a route cannot be served without
//! being documented; [`add_shared_responses`] then adds what every route of
//! a kind answers besides its own statuses.

use crate::http::error::ErrorBody;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{OneOf, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

/// Name of the security scheme the `/v1` routes require.
pub const BEARER: &str = "bearer";

/// Name of the other scheme every `/v1` route accepts where it takes the
/// bearer token: the console's session cookie. It is described once, in the
/// components, rather than listed beside `bearer` on every operation.
pub const SESSION: &str = "session";

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
        (name = "console", description = "The web console's sign-in: a token traded for a session cookie"),
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
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::http::session_cookie::COOKIE_NAME,
                "The console's session (`POST /v1/session`), accepted by every route \
                 that takes the bearer token; a request that changes something must also \
                 send the session's `csrf_token` in `X-CSRF-Token`",
            ))),
        );
    }
}

/// The frame with the crate's version filled in.
pub fn frame() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// What the authentication middleware ([`crate::http::auth`]) answers on every
/// secured operation before its handler runs.
const AUTH_RESPONSES: [(&str, &str); 3] = [
    ("401", "No valid token"),
    (
        "429",
        "Too many failed authentications from this address (AUTH_FAILURES_PER_MINUTE); retry after `Retry-After` seconds",
    ),
    ("503", "Postgres is unavailable; retry (see `Retry-After`)"),
];

/// What the body extractors ([`crate::http::extract`]) answer on every operation
/// that reads a JSON body.
const BODY_RESPONSES: [(&str, &str); 5] = [
    ("400", "The body is not well-formed JSON"),
    (
        "408",
        "The body did not arrive within BODY_READ_TIMEOUT_S; the connection is closed",
    ),
    ("413", "The body is over MAX_BODY_BYTES"),
    ("415", "A body without `content-type: application/json`"),
    (
        "422",
        "The body is not a JSON object, holds a NUL character, or does not match the schema",
    ),
];

/// Adds to each operation the statuses every operation of its kind answers,
/// where its own `#[utoipa::path]` does not already describe them: those of
/// [`AUTH_RESPONSES`] on secured operations (429 and 503 with their
/// `Retry-After`), those of [`BODY_RESPONSES`] on operations that take a
/// body. An optional body is one that may be left out, not a JSON `null`
/// (refused like any other non-object), so its schema loses the `null`
/// that utoipa gives an `Option`.
pub fn add_shared_responses(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                for (status, description) in AUTH_RESPONSES {
                    add_error_response(operation, status, description);
                }
                for status in ["429", "503"] {
                    add_retry_after(operation, status);
                }
            }
            if let Some(RefOr::T(body)) = &mut operation.request_body {
                drop_null_alternative(body);
                for (status, description) in BODY_RESPONSES {
                    add_error_response(operation, status, description);
                }
            }
        }
    }
}

fn add_error_response(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
                .into()
        });
}

/// Every 429 and 503 an [`crate::http::error::ApiError`] makes says when to retry.
fn add_retry_after(operation: &mut Operation, status: &str) {
    if let Some(RefOr::T(response)) = operation.responses.responses.get_mut(status) {
        response
            .headers
            .entry("Retry-After".to_owned())
            .or_insert_with(|| {
                HeaderBuilder::new()
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(0))
                            .build(),
                    ))
                    .description(Some("Seconds to wait before retrying"))
                    .build()
                    .into()
            });
    }
}

fn drop_null_alternative(body: &mut RequestBody) {
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else { continue };
        let Some(RefOr::T(Schema::OneOf(OneOf { items, .. }))) = &content.schema else {
            continue;
        };
        let mut alternatives = items
            .iter()
            .filter(|item| !matches!(item, RefOr::T(Schema::Object(o)) if is_null(o)));
        if let (Some(only), None) = (alternatives.next(), alternatives.next()) {
            content.schema = Some(only.clone());
        }
    }
}

fn is_null(object: &utoipa::openapi::Object) -> bool {
    object.schema_type == utoipa::openapi::schema::SchemaType::Type(Type::Null)
}

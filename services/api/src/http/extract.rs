//! Request extractors that answer with [`ApiError`] instead of axum's
//! plain-text rejections, so every client error has the JSON error body:
//! handlers take [`ApiJson`], [`OptionalJson`], [`ApiQuery`] and [`ApiPath`],
//! never axum's own `Json`, `Query` or `Path`.
//!
//! A JSON body is read as a [`Value`] first and checked before it is turned
//! into the handler's type: it must be an object (serde would otherwise take
//! an array for a struct, field by field), and no string or key in it may
//! hold a NUL character, which PostgreSQL can store neither in `text` nor in
//! `jsonb` (the insert would fail with a 500).

use crate::http::error::ApiError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

/// A JSON object body: 400 when malformed, 413 when too large, 415 when not
/// JSON, 422 when it is not an object, holds a NUL character or does not
/// match the expected shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let value = match axum::Json::<Value>::from_request(req, state).await {
            Ok(axum::Json(value)) => value,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        if !value.is_object() {
            return Err(ApiError::Validation(format!(
                "the request body must be a JSON object, not {}",
                kind(&value)
            )));
        }
        if let Some(path) = nul_at(&value, "") {
            return Err(ApiError::Validation(format!(
                "{path}: contains a NUL character (\\u0000), which can not be stored"
            )));
        }
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|e| ApiError::Validation(format!("invalid request body: {e}")))
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where in `value` the first NUL character is, as a dotted path
/// (`params.name`, `settings.list[2]`); `None` when there is none.
fn nul_at(value: &Value, path: &str) -> Option<String> {
    let here = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    match value {
        Value::String(text) if text.contains('\0') => Some(if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_at(item, &format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(name, item)| {
            if name.contains('\0') {
                Some(here(&name.replace('\0', "\\u0000")))
            } else {
                nul_at(item, &here(name))
            }
        }),
        _ => None,
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => ApiError::Validation(text),
        JsonRejection::JsonSyntaxError(_) => ApiError::BadRequest(text),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("expected content-type: application/json".into())
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("request body is over the size limit".into())
        }
        JsonRejection::BytesRejection(_) => body_unread(),
        _ => ApiError::BadRequest(text),
    }
}

/// A body that could not be read for another reason than its size: it
/// stalled past `BODY_READ_TIMEOUT_S` (or the client went away).
fn body_unread() -> ApiError {
    ApiError::RequestTimeout("the request body did not arrive in time (BODY_READ_TIMEOUT_S)".into())
}

/// A JSON body that may be left out: an empty body reads as `T::default()`;
/// a non-empty one is checked like [`ApiJson`].
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes =
            axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
                .await
                .map_err(|rejection| {
                    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        ApiError::PayloadTooLarge("request body is over the size limit".into())
                    } else {
                        body_unread()
                    }
                })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        let ApiJson(value) = ApiJson::<T>::from_request(req, state).await?;
        Ok(OptionalJson(value))
    }
}

/// Query parameters: 400 naming the bad parameter.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    #[expect(
        clippy::disallowed_types,
        reason = "the one place axum's Query is read"
    )]
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::BadRequest(rejection.body_text())
}

/// Path parameters. A segment that is not UTF-8 once percent-decoded
/// (`/v1/runs/%FF`) can name nothing, so it is a 404 like a malformed id
/// ([`parse_id`]), with the JSON error body instead of axum's plain-text 400.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    #[expect(clippy::disallowed_types, reason = "the one place axum's Path is read")]
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    match rejection {
        PathRejection::FailedToDeserializePathParams(err) => ApiError::NotFound(err.body_text()),
        // A handler reading parameters its route does not have: a bug.
        other => ApiError::Internal(anyhow::anyhow!(other.body_text())),
    }
}

/// Parses an id from a path segment; a malformed id cannot name anything,
/// so it is a 404 for `what`.
pub fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no {what} with id `{raw}`")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_nul_is_found_by_its_path() {
        assert_eq!(nul_at(&json!({"goal": "a\0b"}), ""), Some("goal".into()));
        assert_eq!(
            nul_at(&json!({"params": {"x": [1, "ok", "\0"]}}), ""),
            Some("params.x[2]".into())
        );
        assert_eq!(
            nul_at(&json!({"settings": {"k\0": 1}}), ""),
            Some("settings.k\\u0000".into())
        );
        assert_eq!(nul_at(&json!({"goal": "fine", "n": 1}), ""), None);
    }
}

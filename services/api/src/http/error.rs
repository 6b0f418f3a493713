//! The api's one error type. Client errors carry a status and a JSON body
//! `{"error": {"code", "message"}}`; internal errors are logged once, here,
//! and answered with an opaque 500 (or 503 when a dependency is down).

use agent_runner_store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A machine-readable code and a message for humans.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `request_timeout`, `conflict`,
    /// `payload_too_large`, `unsupported_media_type`, `validation_failed`,
    /// `too_many_requests`, `service_unavailable`, `no_worker`,
    /// `internal` (and `not_ready` from `/readyz`).
    #[schema(example = "not_found")]
    pub code: String,
    /// What happened, in words.
    pub message: String,
}

impl ErrorBody {
    /// An error body with `code` and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
            },
        }
    }
}

/// Everything a handler can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request could not be read.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no or no valid token.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 401, saying why: a sign-in with a token that is not live, or no
    /// live console session.
    #[error("{0}")]
    SignIn(&'static str),
    /// 403: the token's role is below what the action needs.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists with another method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408: the request's body did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// 409: the request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the body is JSON but not a valid request.
    #[error("{0}")]
    Validation(String),
    /// 429: this client failed to authenticate too often; retry after the
    /// given number of seconds.
    #[error("too many failed authentications from this address; retry in {0} s")]
    TooManyRequests(u64),
    /// 503: a dependency (Postgres, RabbitMQ) is unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// 503: no worker is connected to take a request for a run.
    #[error("{0}")]
    NoWorker(String),
    /// 500: a bug or an unexpected failure.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized | ApiError::SignIn(_) => {
                (StatusCode::UNAUTHORIZED, "unauthorized")
            }
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
            ApiError::NoWorker(_) => (StatusCode::SERVICE_UNAVAILABLE, "no_worker"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(msg) => ApiError::Unavailable(msg),
            StoreError::Conflict(msg) => ApiError::Conflict(msg),
            StoreError::MissingReference(msg) => ApiError::Validation(msg),
            StoreError::Db(e) => ApiError::Internal(e.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(err) => {
                tracing::error!(error = ?err, "request failed");
                "internal error".to_owned()
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "dependency unavailable");
                "a dependency is unavailable; retry later".to_owned()
            }
            other => other.to_string(),
        };
        let retry_after = match &self {
            ApiError::TooManyRequests(seconds) => Some(*seconds),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            _ => None,
        };
        let mut response = (status, Json(ErrorBody::new(code, message))).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still be on its way: do not read it
            // as the next request.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

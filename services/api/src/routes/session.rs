//! `/v1/session`: the web console's sign-in. `POST` trades a live api token
//! for a session cookie (the token itself is never stored by the browser),
//! `GET` says who the cookie signs in, `DELETE` signs out server-side.
//!
//! Signing in is throttled like every other authentication: a client
//! address that fails too often gets 429 ([`crate::http::auth_throttle`]).

use crate::http::auth;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiJson;
use crate::http::session_cookie::{self, CrossSite};
use crate::state::AppState;
use agent_runner_store::sessions::{self, Session};
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Body of `POST /v1/session`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// An api token (`art_…`), as `agent-runner-api token create` printed it.
    #[schema(min_length = 1, max_length = 200)]
    token: String,
}

/// Who a session signs in, and what the page must send back.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The token's name.
    pub name: String,
    /// The token's role: `viewer`, `runner`, `reviewer` or `admin`.
    pub role: String,
    /// The projects the token is scoped to; `null`: every project.
    pub projects: Option<Vec<Uuid>>,
    /// Send in `X-CSRF-Token` with every request that changes something.
    pub csrf_token: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

impl From<&Session> for SessionView {
    fn from(session: &Session) -> Self {
        Self {
            name: session.principal.name.clone(),
            role: session.principal.role.as_str().to_owned(),
            projects: session.principal.projects.clone(),
            csrf_token: session.csrf_token.clone(),
            expires_at: session.expires_at,
        }
    }
}

/// Signs in: 201 with the session and its cookie; 401 for a token that is
/// not live.
#[utoipa::path(post, path = "/v1/session", tag = "console",
    request_body = SignIn,
    responses(
        (status = 201, description = "Signed in; `Set-Cookie` holds the session", body = SessionView,
            headers(("set-cookie" = String, description = "`agent_runner_session=…; HttpOnly; SameSite=Strict`"))),
        (status = 401, description = "The token is not valid or was revoked", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins from this address", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Postgres is unavailable", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
    ))]
pub async fn create(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let client = auth::throttled_client(&state, &request)?;
    let headers = request.headers().clone();
    let ApiJson(body) = ApiJson::<SignIn>::from_request(request, &state).await?;
    let lifetime_s = state.config.console_session_ttl_s;
    let Some(new) = sessions::create(&state.pool, body.token.trim(), lifetime_s).await? else {
        auth::count_failure(&state, client);
        return Err(ApiError::SignIn(
            "this token is not valid or has been revoked",
        ));
    };
    tracing::info!(token.name = %new.session.principal.name, "console session opened");
    let cookie = session_cookie::set(
        &new.secret,
        i64::try_from(lifetime_s).unwrap_or(i64::MAX),
        state.config.console_secure_cookie,
        &headers,
    );
    let mut response = (StatusCode::CREATED, Json(SessionView::from(&new.session))).into_response();
    response.headers_mut().insert(SET_COOKIE, header(&cookie)?);
    Ok(response)
}

/// The session the cookie belongs to; 401 without a live one.
#[utoipa::path(get, path = "/v1/session", tag = "console",
    responses(
        (status = 200, body = SessionView),
        (status = 401, description = "No live session", body = ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
    ))]
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<SessionView>, ApiError> {
    let session = current(&state, &headers)
        .await?
        .ok_or(ApiError::SignIn("not signed in, or the session has ended"))?;
    Ok(Json(SessionView::from(&session)))
}

/// Signs out: the session ends server-side and the cookie is cleared (204,
/// also when there was no live session). Needs `X-CSRF-Token`.
#[utoipa::path(delete, path = "/v1/session", tag = "console",
    responses(
        (status = 204, description = "Signed out"),
        (status = 403, description = "Cross-site request: no or a wrong X-CSRF-Token, or another Origin", body = ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let (Some(secret), Some(session)) = (
        session_cookie::session_secret(&headers),
        current(&state, &headers).await?,
    ) {
        session_cookie::check(&method, &headers, &session.csrf_token)
            .map_err(|refused: CrossSite| ApiError::Forbidden(refused.to_string()))?;
        sessions::delete(&state.pool, secret).await?;
        tracing::info!(token.name = %session.principal.name, "console session closed");
    }
    let cookie = session_cookie::clear(state.config.console_secure_cookie, &headers);
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(SET_COOKIE, header(&cookie)?);
    Ok(response)
}

async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
    match session_cookie::session_secret(headers) {
        Some(secret) => Ok(sessions::authenticate(&state.pool, secret).await?),
        None => Ok(None),
    }
}

fn header(value: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(value).map_err(|e| ApiError::Internal(e.into()))
}

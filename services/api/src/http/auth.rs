//! Authentication for everything under `/v1` — a bearer token, or the web
//! console's session cookie (which acts as the token it was opened with,
//! and must pass the cross-site check of [`session_cookie`] to change
//! anything) — and the one
//! authorization rule: a handler asks [`Principal::require`] for the role its
//! action needs (403 naming it), and reads through the token's
//! [`Principal::scope`] — a run or project outside it is a 404, as if it did
//! not exist, so a scoped token learns nothing about other projects.
//!
//! The role is checked before the scope and before anything is read, so a
//! 403 says nothing about whether a run exists.

use crate::http::error::ApiError;
use crate::http::session_cookie;
use crate::state::AppState;
use agent_runner_store::access::Forbidden;
pub use agent_runner_store::access::Role;
pub use agent_runner_store::tokens::Principal;
use agent_runner_store::{Pool, runs, sessions};
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use std::net::IpAddr;
use uuid::Uuid;

/// Rejects requests without a live token or session with 401, and with 429 a client
/// address that failed too often ([`crate::http::auth_throttle`]).
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let client = throttled_client(&state, &request)?;
    let headers = request.headers();
    let principal = if headers.contains_key(AUTHORIZATION) {
        match headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
        {
            Some(secret) => state.batches.authenticate(secret).await?,
            None => None,
        }
    } else if let Some(secret) = session_cookie::session_secret(headers) {
        match sessions::authenticate(&state.pool, secret).await? {
            Some(session) => {
                session_cookie::check(request.method(), headers, &session.csrf_token)
                    .map_err(|refused| ApiError::Forbidden(refused.to_string()))?;
                Some(session.principal)
            }
            None => None,
        }
    } else {
        None
    };
    let Some(principal) = principal else {
        count_failure(&state, client);
        return Err(ApiError::Unauthorized);
    };
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// The request's client address; 429 while it is over its limit of failed
/// authentications ([`crate::http::auth_throttle`]).
pub fn throttled_client(state: &AppState, request: &Request) -> Result<Option<IpAddr>, ApiError> {
    let client = crate::http::serve::peer(request).map(|addr| addr.ip());
    if let Some(ip) = client {
        state
            .auth_throttle
            .check(ip)
            .map_err(ApiError::TooManyRequests)?;
    }
    Ok(client)
}

/// Counts a failed authentication against `client`.
pub fn count_failure(state: &AppState, client: Option<IpAddr>) {
    if let Some(ip) = client {
        state.auth_throttle.failed(ip);
    }
}

/// The credentials of an `Authorization: Bearer <token>` value. The scheme
/// is case-insensitive (RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl From<Forbidden> for ApiError {
    fn from(refused: Forbidden) -> Self {
        ApiError::Forbidden(refused.to_string())
    }
}

/// 404 unless the run exists within the principal's scope. An unscoped
/// principal is not checked here: the action's own statement answers 404
/// for a run that does not exist.
pub async fn run_in_scope(pool: &Pool, principal: &Principal, id: Uuid) -> Result<(), ApiError> {
    let scope = principal.scope();
    if scope.is_all() || runs::in_scope(pool, id, scope).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("no run with id `{id}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer("Bearer art_x"), Some("art_x"));
        assert_eq!(bearer("bearer art_x"), Some("art_x"));
        assert_eq!(bearer("BEARER  art_x "), Some("art_x"));
        assert_eq!(bearer("Basic art_x"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearerart_x"), None);
    }
}

//! Bearer-token authentication for everything under `/v1`.
//!
//! The middleware resolves `Authorization: Bearer <token>` to a [`Principal`]
//! and puts it in the request extensions; handlers needing the admin scope
//! call [`require_admin`].

use crate::error::ApiError;
use crate::state::AppState;
use agent_runner_store::tokens;
pub use agent_runner_store::tokens::Principal;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;

/// Rejects requests without a live token with 401, and with 429 a client
/// address that failed too often ([`crate::auth_throttle`]).
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let client = crate::serve::peer(&request).map(|addr| addr.ip());
    if let Some(ip) = client {
        state
            .auth_throttle
            .check(ip)
            .map_err(ApiError::TooManyRequests)?;
    }
    let principal = match bearer(&request) {
        Some(secret) => tokens::authenticate(&state.pool, secret).await?,
        None => None,
    };
    let Some(principal) = principal else {
        if let Some(ip) = client {
            state.auth_throttle.failed(ip);
        }
        return Err(ApiError::Unauthorized);
    };
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in
/// any case, RFC 9110 §11.1).
fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// 403 unless the principal has the admin scope.
pub fn require_admin(principal: &Principal) -> Result<(), ApiError> {
    if principal.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this action needs a token with the admin scope".into(),
        ))
    }
}

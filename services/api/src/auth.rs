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

/// Rejects requests without a live token with 401.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let secret = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let principal = tokens::authenticate(&state.pool, secret)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
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

//! Sessions of the web console. Signing in with a live api token creates a
//! session: a random secret for the browser's cookie (stored as a SHA-256
//! hash, like tokens) and a CSRF token the page sends back on every
//! state-changing request. A session acts as its token: role and scope are
//! read from the token's row on every request, so revoking the token ends
//! its sessions, and the session has no rights of its own to keep in step.

use crate::StoreError;
use crate::tokens::{self, Principal};
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

/// Prefix of session secrets, so that one is never mistaken for a token.
const SESSION_PREFIX: &str = "ars_";

/// A session just created: the cookie's secret is only here, never stored.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie value.
    pub secret: String,
    /// The session as [`authenticate`] reads it back.
    pub session: Session,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The token it acts as.
    pub principal: Principal,
    /// What state-changing requests must carry in `X-CSRF-Token`.
    pub csrf_token: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// Columns of a [`Session`] over `console_sessions s JOIN api_tokens t`.
const COLUMNS: &str = "t.id, t.name, t.role, t.project_ids, s.csrf_token, s.expires_at";

fn session(row: &tokio_postgres::Row) -> Session {
    Session {
        principal: tokens::principal(row, 0),
        csrf_token: row.get(4),
        expires_at: row.get(5),
    }
}

/// Opens a session for the live token `token_secret`, lasting
/// `lifetime_s`; `None` when the secret is not a live token. Expired
/// sessions are deleted on the way.
pub async fn create(
    pool: &Pool,
    token_secret: &str,
    lifetime_s: u64,
) -> Result<Option<NewSession>, StoreError> {
    let Some(principal) = tokens::authenticate(pool, token_secret).await? else {
        return Ok(None);
    };
    let secret = tokens::random_secret(SESSION_PREFIX);
    let csrf_token = tokens::random_secret("");
    let lifetime_s = i64::try_from(lifetime_s).unwrap_or(i64::MAX);
    let client = pool.get().await?;
    client
        .execute("DELETE FROM console_sessions WHERE expires_at < now()", &[])
        .await?;
    let row = client
        .query_one(
            "INSERT INTO console_sessions (secret_hash, token_id, csrf_token, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4::bigint::double precision))
             RETURNING expires_at",
            &[
                &tokens::hash(&secret),
                &principal.token_id,
                &csrf_token,
                &lifetime_s,
            ],
        )
        .await?;
    Ok(Some(NewSession {
        secret,
        session: Session {
            principal,
            csrf_token,
            expires_at: row.get(0),
        },
    }))
}

/// The live session whose cookie secret is `secret`: not expired, and its
/// token not revoked.
pub async fn authenticate(pool: &Pool, secret: &str) -> Result<Option<Session>, StoreError> {
    if !secret.starts_with(SESSION_PREFIX) {
        return Ok(None);
    }
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
             WHERE s.secret_hash = $1 AND s.expires_at > now() AND t.revoked_at IS NULL"
        ))
        .await?;
    let row = client
        .query_opt(&statement, &[&tokens::hash(secret)])
        .await?;
    Ok(row.as_ref().map(session))
}

/// Ends the session whose cookie secret is `secret`; `Ok(false)` when there
/// was none.
pub async fn delete(pool: &Pool, secret: &str) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let n = client
        .execute(
            "DELETE FROM console_sessions WHERE secret_hash = $1",
            &[&tokens::hash(secret)],
        )
        .await?;
    Ok(n > 0)
}

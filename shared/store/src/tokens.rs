//! API tokens: random secrets shown once, stored as SHA-256 hashes. The
//! tokens carry 256 bits of entropy, so a fast hash is enough (no password
//! stretching needed) and lookups stay one indexed query.

use crate::StoreError;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Prefix of every token, so leaked ones are easy to grep for.
const TOKEN_PREFIX: &str = "art_";

/// A token's metadata (never its secret).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenInfo {
    /// Token id.
    pub id: Uuid,
    /// Name given at creation.
    pub name: String,
    /// Admin scope: operator-only actions.
    pub admin: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token id.
    pub token_id: Uuid,
    /// Token name.
    pub name: String,
    /// Admin scope.
    pub admin: bool,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates a token; returns its secret (shown once) and metadata. A live
/// token with the same name gives [`StoreError::Conflict`].
pub async fn create(
    pool: &Pool,
    name: &str,
    admin: bool,
) -> Result<(String, TokenInfo), StoreError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let client = pool.get().await?;
    let row = client
        .query_one(
            "INSERT INTO api_tokens (id, name, token_hash, admin) VALUES ($1, $2, $3, $4)
             RETURNING id, name, admin, created_at, revoked_at",
            &[&Uuid::now_v7(), &name, &hash(&secret), &admin],
        )
        .await?;
    Ok((secret, info(&row)))
}

fn info(row: &tokio_postgres::Row) -> TokenInfo {
    TokenInfo {
        id: row.get(0),
        name: row.get(1),
        admin: row.get(2),
        created_at: row.get(3),
        revoked_at: row.get(4),
    }
}

/// Every token, live and revoked.
pub async fn list(pool: &Pool) -> Result<Vec<TokenInfo>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT id, name, admin, created_at, revoked_at FROM api_tokens ORDER BY created_at",
            &[],
        )
        .await?;
    Ok(rows.iter().map(info).collect())
}

/// Revokes the live token called `name`; `Ok(false)` when there is none.
pub async fn revoke(pool: &Pool, name: &str) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let n = client
        .execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
            &[&name],
        )
        .await?;
    Ok(n > 0)
}

/// The principal for a presented secret, if it is a live token.
pub async fn authenticate(pool: &Pool, secret: &str) -> Result<Option<Principal>, StoreError> {
    if !secret.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT id, name, admin FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .await?;
    let row = client.query_opt(&statement, &[&hash(secret)]).await?;
    Ok(row.map(|r| Principal {
        token_id: r.get(0),
        name: r.get(1),
        admin: r.get(2),
    }))
}

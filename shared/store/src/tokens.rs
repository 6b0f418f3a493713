//! API tokens: random secrets shown once, stored as SHA-256 hashes. The
//! tokens carry 256 bits of entropy, so a fast hash is enough (no password
//! stretching needed) and lookups stay one indexed query. Each token has a
//! [`Role`] and may be scoped to projects (see [`crate::access`]).

use crate::StoreError;
use crate::access::{Forbidden, Role, Scope};
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Prefix of every token, so leaked ones are easy to grep for.
pub(crate) const TOKEN_PREFIX: &str = "art_";

/// A token's metadata (never its secret).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenInfo {
    /// Token id.
    pub id: Uuid,
    /// Name given at creation.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Names of the projects it is scoped to, sorted; `None`: every project.
    pub projects: Option<Vec<String>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who a valid token belongs to, and what it may do and see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token id.
    pub token_id: Uuid,
    /// Token name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The projects it is scoped to; `None`: every project.
    pub projects: Option<Vec<Uuid>>,
}

impl Principal {
    /// `Ok` when the token's role is `needs` or above.
    pub fn require(&self, needs: Role) -> Result<(), Forbidden> {
        if self.role >= needs {
            Ok(())
        } else {
            Err(Forbidden {
                needs,
                has: self.role,
            })
        }
    }

    /// The projects whose runs the token sees, for the store's queries.
    pub fn scope(&self) -> Scope<'_> {
        match &self.projects {
            None => Scope::ALL,
            Some(ids) => Scope::projects(ids),
        }
    }
}

/// The stored form of a secret: its SHA-256, in hex.
pub(crate) fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// 256 random bits in hex, after `prefix`.
pub(crate) fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// Columns of a [`TokenInfo`] over `api_tokens t`, in [`info`] order.
const INFO_COLUMNS: &str = "t.id, t.name, t.role, t.created_at, t.revoked_at,
     CASE WHEN t.project_ids IS NOT NULL THEN
         ARRAY(SELECT p.name FROM projects p WHERE p.id = ANY(t.project_ids) ORDER BY p.name)
     END";

/// Creates a token with `role`, scoped to `projects` (`None`: every
/// project); returns its secret (shown once) and metadata. A live token with
/// the same name gives [`StoreError::Conflict`]; a project id that does not
/// exist gives [`StoreError::MissingReference`]. An admin is never scoped:
/// the table's constraint refuses it.
pub async fn create(
    pool: &Pool,
    name: &str,
    role: Role,
    projects: Option<&[Uuid]>,
) -> Result<(String, TokenInfo), StoreError> {
    let secret = random_secret(TOKEN_PREFIX);
    let projects: Option<Vec<Uuid>> = projects.map(|ids| {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        ids
    });
    let client = pool.get().await?;
    // Inserted only when every project exists (an array has no foreign key).
    let row = client
        .query_opt(
            &format!(
                "WITH t AS (
                    INSERT INTO api_tokens (id, name, token_hash, role, project_ids)
                    SELECT $1, $2, $3, $4, $5
                    WHERE $5::uuid[] IS NULL
                       OR (SELECT count(*) FROM projects WHERE id = ANY($5)) = cardinality($5)
                    RETURNING *)
                 SELECT {INFO_COLUMNS} FROM t"
            ),
            &[
                &Uuid::now_v7(),
                &name,
                &hash(&secret),
                &role.as_str(),
                &projects,
            ],
        )
        .await?;
    let row = row.ok_or_else(|| {
        StoreError::MissingReference("a project the token is scoped to does not exist".into())
    })?;
    Ok((secret, info(&row)))
}

fn info(row: &tokio_postgres::Row) -> TokenInfo {
    TokenInfo {
        id: row.get(0),
        name: row.get(1),
        role: role_of(row, 2),
        created_at: row.get(3),
        revoked_at: row.get(4),
        projects: row.get(5),
    }
}

fn role_of(row: &tokio_postgres::Row, index: usize) -> Role {
    let role: String = row.get(index);
    // The CHECK constraint keeps unknown roles out of the table; were one
    // there anyway, it would get the least.
    role.parse().unwrap_or(Role::Viewer)
}

/// Every token, live and revoked.
pub async fn list(pool: &Pool) -> Result<Vec<TokenInfo>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!("SELECT {INFO_COLUMNS} FROM api_tokens t ORDER BY t.created_at"),
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
            "SELECT id, name, role, project_ids FROM api_tokens
             WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .await?;
    let row = client.query_opt(&statement, &[&hash(secret)]).await?;
    Ok(row.map(|r| principal(&r, 0)))
}

/// The principal in `row`'s columns from `first` on: id, name, role,
/// project_ids.
pub(crate) fn principal(row: &tokio_postgres::Row, first: usize) -> Principal {
    Principal {
        token_id: row.get(first),
        name: row.get(first + 1),
        role: role_of(row, first + 2),
        projects: row.get(first + 3),
    }
}

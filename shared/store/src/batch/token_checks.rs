//! Token checks that arrive together, answered by one read: the api's
//! [`tokens::authenticate`] over an array of secrets. A check sees the
//! tokens as they are when its statement runs, as it would alone: a token
//! revoked before that is refused.

use crate::StoreError;
use crate::tokens::{self, Principal};
use deadpool_postgres::Pool;
use std::collections::HashMap;

/// One check's answer: as [`tokens::authenticate`]'s.
pub type Checked = Result<Option<Principal>, StoreError>;

/// Checks `secrets`, one answer per secret in the same order.
pub async fn authenticate_many(pool: &Pool, secrets: Vec<String>) -> Vec<Checked> {
    let hashes: Vec<Option<String>> = secrets
        .iter()
        .map(|s| s.starts_with(tokens::TOKEN_PREFIX).then(|| tokens::hash(s)))
        .collect();
    let wanted: Vec<&str> = hashes.iter().flatten().map(String::as_str).collect();
    if wanted.is_empty() {
        return secrets.iter().map(|_| Ok(None)).collect();
    }
    match read(pool, &wanted).await {
        Ok(found) => hashes
            .iter()
            .map(|h| Ok(h.as_ref().and_then(|h| found.get(h).cloned())))
            .collect(),
        Err(err) => {
            let unavailable = err.is_unavailable();
            let message = err.to_string();
            let mut answers = Vec::with_capacity(secrets.len());
            for secret in &secrets {
                answers.push(if unavailable {
                    Err(StoreError::Unavailable(message.clone()))
                } else {
                    tokens::authenticate(pool, secret).await
                });
            }
            answers
        }
    }
}

async fn read(pool: &Pool, hashes: &[&str]) -> Result<HashMap<String, Principal>, StoreError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT token_hash, id, name, role, project_ids FROM api_tokens
             WHERE token_hash = ANY($1) AND revoked_at IS NULL",
        )
        .await?;
    let rows = client.query(&statement, &[&hashes]).await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), tokens::principal(row, 1)))
        .collect())
}

//! The transactional outbox: rows written with the state change that needs a
//! message, marked sent once the broker confirmed the publish. The relay
//! claims unsent rows with `FOR UPDATE SKIP LOCKED`, so several api replicas
//! share the work without publishing a row twice at the same time.

use crate::StoreError;
use deadpool_postgres::Pool;
use uuid::Uuid;

/// An outbox row waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Row id.
    pub id: i64,
    /// Run to (re-)deliver.
    pub run_id: Uuid,
    /// Attempt the message is for (informational header).
    pub attempt: i32,
    /// Project of the run (message header).
    pub project_id: Uuid,
    /// W3C trace context of the request or attempt that wrote the row.
    pub traceparent: Option<String>,
}

/// Marks a row published.
pub async fn mark_sent(pool: &Pool, id: i64) -> Result<(), StoreError> {
    mark_sent_many(pool, &[id]).await
}

/// Marks rows published, in one statement.
pub async fn mark_sent_many(pool: &Pool, ids: &[i64]) -> Result<(), StoreError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "UPDATE outbox SET sent_at = clock_timestamp() WHERE id = ANY($1) AND sent_at IS NULL",
        )
        .await?;
    client.execute(&statement, &[&ids]).await?;
    Ok(())
}

/// Publishes a batch of due rows with `publish`, marking each one sent when
/// it succeeds and recording the error when it does not. Rows younger than
/// `min_age_ms` are left to the fast path that wrote them. Returns how many
/// rows were published.
pub async fn relay_batch<F, Fut, E>(
    pool: &Pool,
    batch: i64,
    min_age_ms: i64,
    mut publish: F,
) -> Result<usize, StoreError>
where
    F: FnMut(Pending) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "SELECT o.id, o.run_id, o.attempt, r.project_id, o.traceparent
             FROM outbox o JOIN runs r ON r.id = o.run_id
             WHERE o.sent_at IS NULL
               AND o.created_at < clock_timestamp() - make_interval(secs => $2::float8 / 1000)
               AND (o.not_before IS NULL OR o.not_before <= clock_timestamp())
             ORDER BY o.id LIMIT $1
             FOR UPDATE OF o SKIP LOCKED",
            &[&batch, &(min_age_ms as f64)],
        )
        .await?;
    let mut sent = 0;
    for row in rows {
        let pending = Pending {
            id: row.get(0),
            run_id: row.get(1),
            attempt: row.get(2),
            project_id: row.get(3),
            traceparent: row.get(4),
        };
        let id = pending.id;
        match publish(pending).await {
            Ok(()) => {
                tx.execute(
                    "UPDATE outbox SET sent_at = clock_timestamp() WHERE id = $1",
                    &[&id],
                )
                .await?;
                sent += 1;
            }
            Err(e) => {
                tx.execute(
                    "UPDATE outbox SET publish_attempts = publish_attempts + 1, last_error = $2
                     WHERE id = $1",
                    &[&id, &e.to_string()],
                )
                .await?;
                // The broker is likely down: stop here and let the next tick retry.
                break;
            }
        }
    }
    tx.commit().await?;
    Ok(sent)
}

/// Number of rows not yet published (an operator metric).
pub async fn backlog(pool: &Pool) -> Result<i64, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT count(*) FROM outbox WHERE sent_at IS NULL", &[])
        .await?;
    Ok(row.get(0))
}

/// Deletes published rows older than `keep_s` seconds; returns how many.
pub async fn purge_sent(pool: &Pool, keep_s: i64) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    Ok(client
        .execute(
            "DELETE FROM outbox WHERE sent_at < clock_timestamp() - make_interval(secs => $1::float8)",
            &[&(keep_s as f64)],
        )
        .await?)
}

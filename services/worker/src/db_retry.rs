//! Riding out a database outage: every store call a worker makes on a
//! run's behalf retries while PostgreSQL is unavailable, so an outage delays
//! runs instead of failing them.

use agent_runner_store::StoreError;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Retries a store call while the database is unavailable, for up to two
/// minutes; other errors (and success) return at once.
pub async fn with_db_retry<T, F, Fut>(mut call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let give_up = Instant::now() + Duration::from_secs(120);
    let mut delay = Duration::from_millis(100);
    loop {
        match call().await {
            Err(err) if err.is_unavailable() && Instant::now() < give_up => {
                tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "database unavailable");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

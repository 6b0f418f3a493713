//! Builds the deadpool connection pool from a `DATABASE_URL`.

use crate::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::time::Duration;
use tokio_postgres::NoTls;

/// Creates a pool of at most `size` connections. Connections are opened
/// lazily, so this succeeds while the database is down; the first query then
/// fails with [`StoreError::Unavailable`] after `wait_timeout`.
pub fn connect(database_url: &str, size: usize) -> Result<Pool, StoreError> {
    let pg_config: tokio_postgres::Config =
        database_url.parse().map_err(|e: tokio_postgres::Error| {
            StoreError::Unavailable(format!("invalid DATABASE_URL: {e}"))
        })?;
    let mut pg_config = pg_config;
    pg_config.connect_timeout(Duration::from_secs(5));
    if pg_config.get_application_name().is_none() {
        pg_config.application_name("agent-runner");
    }
    let manager = Manager::from_config(
        pg_config,
        NoTls,
        // `Fast` trusts a connection unless it is known closed; a dead one
        // fails its query with a connection error, which maps to 503.
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// Checks that a connection can be had and answers a trivial query.
pub async fn ping(pool: &Pool) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client.simple_query("SELECT 1").await?;
    Ok(())
}

//! Embedded migrations, applied in order under a Postgres advisory lock so
//! that concurrent `migrate` invocations (several pods, a k8s Job retrying)
//! apply each migration exactly once.

use crate::StoreError;
use deadpool_postgres::Pool;

/// Arbitrary constant identifying our migration lock.
const MIGRATION_LOCK_KEY: i64 = 0x6167_656e_7472_756e; // "agentrun"

/// The migrations, in order: (version, name, SQL).
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "run_messages",
        include_str!("../migrations/0002_run_messages.sql"),
    ),
    (
        3,
        "outbox_traceparent",
        include_str!("../migrations/0003_outbox_traceparent.sql"),
    ),
    (
        4,
        "outbox_run_index",
        include_str!("../migrations/0004_outbox_run_index.sql"),
    ),
    (
        5,
        "run_branches",
        include_str!("../migrations/0005_run_branches.sql"),
    ),
    (
        6,
        "token_roles",
        include_str!("../migrations/0006_token_roles.sql"),
    ),
    (
        7,
        "idempotency_per_token",
        include_str!("../migrations/0007_idempotency_per_token.sql"),
    ),
    (
        8,
        "worker_metrics_addr",
        include_str!("../migrations/0008_worker_metrics_addr.sql"),
    ),
    (
        9,
        "console_sessions",
        include_str!("../migrations/0009_console_sessions.sql"),
    ),
    (
        10,
        "worker_sandbox",
        include_str!("../migrations/0010_worker_sandbox.sql"),
    ),
    (
        11,
        "scheduling",
        include_str!("../migrations/0011_scheduling.sql"),
    ),
    (
        12,
        "model_allowance",
        include_str!("../migrations/0012_model_allowance.sql"),
    ),
    (
        13,
        "worker_lease",
        include_str!("../migrations/0013_worker_lease.sql"),
    ),
];

/// Applies every migration not applied yet; returns the versions applied now.
pub async fn run(pool: &Pool) -> Result<Vec<i32>, StoreError> {
    run_until(pool, i32::MAX).await
}

/// Applies the migrations not applied yet up to version `last`; returns the
/// versions applied now. A test of a migration starts from the schema before it.
pub async fn run_until(pool: &Pool, last: i32) -> Result<Vec<i32>, StoreError> {
    let mut client = pool.get().await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    let outcome = apply_pending(&mut client, last).await;
    // Unlock even when a migration failed; the session ends with the
    // connection anyway, but pooled connections live on.
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let applied = outcome?;
    unlock?;
    Ok(applied)
}

async fn apply_pending(
    client: &mut deadpool_postgres::Client,
    last: i32,
) -> Result<Vec<i32>, StoreError> {
    // One simple query is one transaction: SET LOCAL keeps the "already
    // exists, skipping" notice of every later run out of the logs.
    client
        .batch_execute(
            "SET LOCAL client_min_messages = warning;
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    integer PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let rows = client
        .query("SELECT version FROM schema_migrations", &[])
        .await?;
    let done: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        if *version > last || done.contains(version) {
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            migration.version = version,
            migration.name = name,
            "applied migration"
        );
        applied.push(*version);
    }
    Ok(applied)
}

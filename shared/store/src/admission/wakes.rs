//! Waking parked runs: as many of a project's best-ranked parked runs as it
//! has free slots get an outbox row, returned for the caller to publish.

use super::fail;
use super::limits::{OWN_LIMIT_SQL, SHARE_SQL, limit_of, taken};
use crate::StoreError;
use crate::outbox::Pending;
use crate::usage;
use agent_runner_domain::budget::{OverBudgetPolicy, TokenBudget};
use deadpool_postgres::{GenericClient, Pool};
use serde_json::Value;
use uuid::Uuid;

/// Most runs of a project with no limit (any more) woken at once.
const UNLIMITED_WAKE_BATCH: i64 = 500;

/// Wakes as many of the project's parked runs as it has free slots (best
/// ranked first): each gets an outbox row, returned for the caller to
/// publish (the relay publishes it otherwise).
pub async fn wake(pool: &Pool, project_id: Uuid) -> Result<Vec<Pending>, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            &format!(
                "SELECT {OWN_LIMIT_SQL}, {SHARE_SQL}, p.settings, p.name FROM projects p
                 WHERE p.id = $1 FOR NO KEY UPDATE OF p"
            ),
            &[&project_id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Vec::new());
    };
    let budget = TokenBudget::from_settings(&row.get::<_, Value>(2)).unwrap_or_default();
    if let Some(over) = usage::over_budget_in(&tx, project_id, &budget).await? {
        // Whatever woke would only park again; with `over_budget` now
        // "fail", the runs waiting for the budget fail as a newcomer would.
        if budget.over_budget == OverBudgetPolicy::Fail {
            let name: String = row.get(3);
            let error = format!("project {name} is {over}");
            let parked = tx
                .query(
                    "SELECT id FROM runs WHERE project_id = $1 AND parked_reason = 'budget'
                       AND status IN ('QUEUED', 'RETRYING')",
                    &[&project_id],
                )
                .await?;
            for run in &parked {
                fail(&tx, run.get(0), &error).await?;
            }
        }
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let free = match limit_of(row.get(0), row.get(1)) {
        Some(limit) => limit.slots - taken(&tx, project_id, None).await?,
        None => UNLIMITED_WAKE_BATCH,
    };
    let woken = if free > 0 {
        wake_in(&tx, project_id, free).await?
    } else {
        Vec::new()
    };
    tx.commit().await?;
    Ok(woken)
}

/// The projects that have parked runs.
pub async fn projects_with_parked(pool: &Pool) -> Result<Vec<Uuid>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT DISTINCT project_id FROM runs
             WHERE parked_at IS NOT NULL AND status IN ('QUEUED', 'RETRYING')",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Wakes up to `n` parked runs of the project, inside the caller's
/// transaction (which holds the project's lock).
pub(super) async fn wake_in(
    tx: &impl GenericClient,
    project_id: Uuid,
    n: i64,
) -> Result<Vec<Pending>, StoreError> {
    let rows = tx
        .query(
            "WITH w AS (
                SELECT id FROM runs
                WHERE project_id = $1 AND parked_at IS NOT NULL
                  AND status IN ('QUEUED', 'RETRYING') AND NOT cancel_requested
                ORDER BY priority DESC, id LIMIT $2 FOR UPDATE SKIP LOCKED),
             u AS (
                UPDATE runs SET parked_at = NULL, parked_reason = NULL,
                       woken_at = clock_timestamp(), updated_at = clock_timestamp()
                FROM w WHERE runs.id = w.id
                RETURNING runs.id, runs.attempt, runs.priority)
             INSERT INTO outbox (run_id, attempt)
             SELECT id, attempt + 1 FROM u ORDER BY priority DESC, id
             RETURNING id, run_id, attempt",
            &[&project_id, &n],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Pending {
            id: row.get(0),
            run_id: row.get(1),
            attempt: row.get(2),
            project_id,
            traceparent: None,
        })
        .collect())
}

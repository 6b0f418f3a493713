//! Many deliveries claimed in one statement: the fast path of
//! [`claim::claim`] over an array of runs.
//!
//! The statement takes the runs it can (claimable, of a project with no
//! limit, share or budget, and not locked by another transaction at that
//! moment) and writes their RUN_STARTED events; every other run of the batch
//! — a duplicate delivery, a finished or cancelled run, a live lease, a
//! limited project, a run whose project is gone — is claimed alone, by
//! [`claim::claim`], and so gets exactly the answer it would have had alone.

use crate::StoreError;
use crate::claim::{self, CLAIM_SET_SQL, CLAIMABLE_SQL, CLAIMED_SQL, Claim, FAST_PATH_GUARD};
use crate::projects::{self, Project};
use crate::runs::{self, Run};
use deadpool_postgres::Pool;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use uuid::Uuid;

/// One run's claim: as [`claim::claim`]'s.
pub type Claimed = Result<Claim, StoreError>;

static SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH c AS (
            SELECT id FROM runs
            WHERE id = ANY($1) AND {claimable}
              {guard}
            ORDER BY id FOR UPDATE OF runs SKIP LOCKED),
         r AS (
            UPDATE runs SET {CLAIM_SET_SQL}
            FROM c WHERE runs.id = c.id
            RETURNING runs.*),
         {claimed}",
        claimable = CLAIMABLE_SQL.as_str(),
        guard = FAST_PATH_GUARD.as_str(),
        claimed = CLAIMED_SQL.as_str(),
    )
});

/// Claims `run_ids` for `worker_id`, one answer per id in the same order.
pub async fn claim_many(
    pool: &Pool,
    run_ids: Vec<Uuid>,
    worker_id: &str,
    lease_s: f64,
) -> Vec<Claimed> {
    let mut answers: Vec<Option<Claimed>> = run_ids.iter().map(|_| None).collect();
    let mut distinct = HashSet::new();
    let together: Vec<Uuid> = run_ids
        .iter()
        .copied()
        .filter(|id| distinct.insert(*id))
        .collect();
    if together.len() > 1 {
        match claim_together(pool, &together, worker_id, lease_s).await {
            Ok(mut won) => {
                // The first delivery of a run gets the claim; a duplicate in
                // the same batch is claimed alone below, as it would be.
                for (i, id) in run_ids.iter().enumerate() {
                    if let Some(claim) = won.remove(id) {
                        answers[i] = Some(Ok(claim));
                    }
                }
            }
            Err(err) if err.is_unavailable() => {
                for answer in &mut answers {
                    *answer = Some(Err(StoreError::Unavailable(err.to_string())));
                }
            }
            Err(err) => {
                tracing::warn!(claims = together.len(), error = %err, "a batch of claims failed; claiming them one by one");
            }
        }
    }
    for (i, id) in run_ids.iter().enumerate() {
        if answers[i].is_none() {
            answers[i] = Some(claim::claim(pool, *id, worker_id, lease_s).await);
        }
    }
    answers.into_iter().flatten().collect()
}

async fn claim_together(
    pool: &Pool,
    run_ids: &[Uuid],
    worker_id: &str,
    lease_s: f64,
) -> Result<HashMap<Uuid, Claim>, StoreError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(&SQL).await?;
    let rows = client
        .query(&statement, &[&run_ids, &worker_id, &lease_s])
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let run = Run::from_row_at(row, 0);
            let id = run.id;
            let claim = Claim::Claimed {
                project: Box::new(Project::from_row_at(row, runs::COLUMN_COUNT)),
                messages: row.get(runs::COLUMN_COUNT + projects::COLUMN_COUNT),
                limited: false,
                run: Box::new(run),
            };
            (id, claim)
        })
        .collect())
}

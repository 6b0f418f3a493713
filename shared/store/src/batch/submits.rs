//! Many submissions committed in one statement: group commit for
//! [`runs::create`].
//!
//! Each run gets what it gets alone — its row, RUN_CREATED at seq 1 and an
//! outbox row carrying its own trace — and its caller answers 201 only once
//! the statement holding it has committed. A run the statement did not
//! insert (its idempotency key was used before, or by another run of the
//! same batch) is created alone, which answers with the earlier run or the
//! conflict; a batch whose statement fails (a project deleted meanwhile) is
//! created one run at a time, so a bad run fails only itself.

use crate::StoreError;
use crate::runs::{self, COLUMN_COUNT, COLUMNS, CREATED_SQL, Created, INSERT_SQL, NewRun, Run};
use deadpool_postgres::Pool;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::LazyLock;
use uuid::Uuid;

/// One submission's answer: as [`runs::create`]'s.
pub type Submitted = Result<Created, StoreError>;

static SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH n AS (
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[],
                                 $6::int[], $7::int[], $8::uuid[], $9::text[], $10::text[],
                                 $11::smallint[])
                     AS n(id, project_id, goal, agent, params, max_attempts, timeout_s,
                          idempotency_token, idempotency_key, traceparent, priority)),
         r AS (
            {INSERT_SQL}
            SELECT id, project_id, goal, agent, params, 'QUEUED', max_attempts, timeout_s,
                   idempotency_token, idempotency_key, 1, priority
            FROM n ORDER BY id
            ON CONFLICT (idempotency_token, idempotency_key) DO NOTHING
            RETURNING {COLUMNS}),
         {created}
         o AS (
            INSERT INTO outbox (run_id, attempt, traceparent)
            SELECT r.id, 0, n.traceparent FROM r JOIN n ON n.id = r.id
            RETURNING id, run_id)
         SELECT r.*, o.id FROM r JOIN o ON o.run_id = r.id",
        created = CREATED_SQL.as_str(),
    )
});

/// Creates `runs`, one answer per run in the same order.
pub async fn create_many(pool: &Pool, runs: Vec<NewRun>) -> Vec<Submitted> {
    let mut answers: Vec<Option<Submitted>> = runs.iter().map(|_| None).collect();
    if runs.len() > 1 {
        let ids: Vec<Uuid> = runs.iter().map(|_| Uuid::now_v7()).collect();
        match create_together(pool, &ids, &runs).await {
            Ok(mut created) => {
                for (i, id) in ids.iter().enumerate() {
                    answers[i] = created.remove(id).map(Ok);
                }
            }
            Err(err) if err.is_unavailable() => {
                for answer in &mut answers {
                    *answer = Some(Err(StoreError::Unavailable(err.to_string())));
                }
            }
            Err(err) => {
                tracing::warn!(runs = runs.len(), error = %err, "a batch of submissions failed; creating them one by one");
            }
        }
    }
    for (i, new) in runs.iter().enumerate() {
        if answers[i].is_none() {
            answers[i] = Some(runs::create(pool, new).await);
        }
    }
    answers.into_iter().flatten().collect()
}

async fn create_together(
    pool: &Pool,
    ids: &[Uuid],
    runs: &[NewRun],
) -> Result<HashMap<Uuid, Created>, StoreError> {
    let projects: Vec<Uuid> = runs.iter().map(|r| r.project_id).collect();
    let goals: Vec<&str> = runs.iter().map(|r| r.goal.as_str()).collect();
    let agents: Vec<&str> = runs.iter().map(|r| r.agent.as_str()).collect();
    let params: Vec<&Value> = runs.iter().map(|r| &r.params).collect();
    let max_attempts: Vec<i32> = runs.iter().map(|r| r.max_attempts).collect();
    let timeouts: Vec<i32> = runs.iter().map(|r| r.timeout_s).collect();
    let tokens: Vec<Option<Uuid>> = runs
        .iter()
        .map(|r| r.idempotency.as_ref().map(|i| i.token_id))
        .collect();
    let keys: Vec<Option<&str>> = runs
        .iter()
        .map(|r| r.idempotency.as_ref().map(|i| i.key.as_str()))
        .collect();
    let traces: Vec<Option<&str>> = runs.iter().map(|r| r.traceparent.as_deref()).collect();
    let priorities: Vec<i16> = runs.iter().map(|r| r.priority).collect();
    let client = pool.get().await?;
    let statement = client.prepare_cached(&SQL).await?;
    let rows = client
        .query(
            &statement,
            &[
                &ids,
                &projects,
                &goals,
                &agents,
                &params,
                &max_attempts,
                &timeouts,
                &tokens,
                &keys,
                &traces,
                &priorities,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let run = Run::from_row(row);
            let outbox_id = row.get(COLUMN_COUNT);
            (run.id, Created::New { run, outbox_id })
        })
        .collect())
}

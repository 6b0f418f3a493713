//! Many attempts' endings in one statement: the worker's completer.
//!
//! Each ending is written exactly as [`attempt::finish`] writes it alone —
//! fenced by its own attempt number, its pending events first with dense
//! `seq`, a cancel request winning over the ending — but the endings that
//! meet in one batch share one statement and one commit. An ending that
//! carries a branch snapshot (a bundle, possibly megabytes) is written alone,
//! and a batch whose statement fails is written one ending at a time, so a
//! bad ending fails only itself.

use crate::StoreError;
use crate::attempt::{self, Ending, NewEvent};
use agent_runner_domain::RunStatus;
use deadpool_postgres::Pool;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// One attempt's ending, to be written with others.
#[derive(Debug, Clone, PartialEq)]
pub struct Finishing {
    /// The run.
    pub run_id: Uuid,
    /// The attempt that ends (the fence).
    pub attempt: i32,
    /// The attempt's events not yet in the timeline, in order.
    pub before: Vec<NewEvent>,
    /// How it ends.
    pub ending: Ending,
}

/// What writing one ending did: the status the run ended in, `None` when
/// the attempt was fenced out (as [`attempt::finish`]).
pub type Finished = Result<Option<RunStatus>, StoreError>;

/// Writes `endings`, one answer per ending in the same order.
pub async fn finish_many(pool: &Pool, endings: Vec<Finishing>) -> Vec<Finished> {
    let mut answers: Vec<Option<Finished>> = endings.iter().map(|_| None).collect();
    // Together: endings without a snapshot, one per run.
    let mut runs = HashSet::new();
    let (together, alone): (Vec<usize>, Vec<usize>) = (0..endings.len())
        .partition(|&i| snapshot_free(&endings[i].ending) && runs.insert(endings[i].run_id));
    if together.len() > 1 {
        let batch: Vec<&Finishing> = together.iter().map(|&i| &endings[i]).collect();
        match write_batch(pool, &batch).await {
            Ok(statuses) => {
                for &i in &together {
                    let key = (endings[i].run_id, endings[i].attempt);
                    answers[i] = Some(Ok(statuses.get(&key).copied()));
                }
            }
            Err(err) if err.is_unavailable() => {
                for &i in &together {
                    answers[i] = Some(Err(StoreError::Unavailable(err.to_string())));
                }
            }
            Err(err) => {
                tracing::warn!(endings = together.len(), error = %err, "a batch of endings failed; writing them one by one");
            }
        }
    }
    for (i, e) in endings.iter().enumerate() {
        if answers[i].is_none() {
            answers[i] =
                Some(attempt::finish(pool, e.run_id, e.attempt, &e.before, &e.ending).await);
        }
    }
    debug_assert!(alone.iter().all(|&i| answers[i].is_some()));
    answers.into_iter().flatten().collect()
}

fn snapshot_free(ending: &Ending) -> bool {
    match ending {
        Ending::Completed { branch, .. } | Ending::AwaitingApproval { branch, .. } => {
            branch.is_none()
        }
        Ending::Failed { .. } | Ending::Cancelled => true,
    }
}

/// The endings' columns, as parallel arrays the statement unnests.
#[derive(Default)]
struct Columns<'a> {
    ids: Vec<Uuid>,
    attempts: Vec<i32>,
    statuses: Vec<&'static str>,
    results: Vec<Option<&'a Value>>,
    errors: Vec<Option<&'a str>>,
    kinds: Vec<&'static str>,
    payloads: Vec<Value>,
    pending: Vec<i32>,
    event_runs: Vec<Uuid>,
    event_ords: Vec<i32>,
    event_kinds: Vec<&'static str>,
    event_payloads: Vec<&'a Value>,
}

impl<'a> Columns<'a> {
    fn of(endings: &[&'a Finishing]) -> Self {
        let mut c = Columns::default();
        for f in endings {
            let (result, error) = match &f.ending {
                Ending::Completed { result, .. } | Ending::AwaitingApproval { result, .. } => {
                    (Some(result), None)
                }
                Ending::Failed { error } => (None, Some(error.as_str())),
                Ending::Cancelled => (None, None),
            };
            let (kind, payload) = f.ending.event(f.attempt);
            c.ids.push(f.run_id);
            c.attempts.push(f.attempt);
            c.statuses.push(f.ending.status());
            c.results.push(result);
            c.errors.push(error);
            c.kinds.push(kind.as_str());
            c.payloads.push(payload);
            c.pending.push(f.before.len() as i32);
            for (ord, e) in f.before.iter().enumerate() {
                c.event_runs.push(f.run_id);
                c.event_ords.push(ord as i32 + 1);
                c.event_kinds.push(e.kind.as_str());
                c.event_payloads.push(&e.payload);
            }
        }
        c
    }
}

/// The batch statement: [`attempt::finish`]'s, over arrays. Runs are
/// locked in id order, so two batches can never wait on each other.
async fn write_batch(
    pool: &Pool,
    endings: &[&Finishing],
) -> Result<HashMap<(Uuid, i32), RunStatus>, StoreError> {
    let mut sorted = endings.to_vec();
    sorted.sort_by_key(|f| f.run_id);
    let c = Columns::of(&sorted);
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "WITH f AS (
                SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::jsonb[], $5::text[],
                                     $6::text[], $7::jsonb[], $8::int[])
                         AS f(id, attempt, status, result, error, kind, payload, pending)),
             locked AS (
                SELECT runs.id FROM runs JOIN f ON runs.id = f.id AND runs.attempt = f.attempt
                WHERE runs.status = 'RUNNING' ORDER BY runs.id FOR UPDATE OF runs),
             r AS (
                UPDATE runs SET
                       status = CASE WHEN runs.cancel_requested THEN 'CANCELLED' ELSE f.status END,
                       lease_until = NULL, finished_at = clock_timestamp(),
                       updated_at = clock_timestamp(),
                       result = CASE WHEN runs.cancel_requested THEN runs.result
                                     ELSE COALESCE(f.result, runs.result) END,
                       error = CASE WHEN runs.cancel_requested THEN runs.error
                                    ELSE COALESCE(f.error, runs.error) END,
                       last_seq = runs.last_seq + 1 + f.pending
                FROM f, locked
                WHERE runs.id = f.id AND locked.id = runs.id AND runs.attempt = f.attempt
                  AND runs.status = 'RUNNING'
                RETURNING runs.id, runs.last_seq, runs.attempt, runs.status,
                          runs.cancel_requested, f.pending, f.kind, f.payload),
             p AS (
                INSERT INTO events (run_id, seq, attempt, kind, payload)
                SELECT r.id, r.last_seq - 1 - r.pending + e.ord, r.attempt, e.kind, e.payload
                FROM r JOIN unnest($9::uuid[], $10::int[], $11::text[], $12::jsonb[])
                            AS e(run_id, ord, kind, payload) ON e.run_id = r.id),
             e AS (
                INSERT INTO events (run_id, seq, attempt, kind, payload)
                SELECT id, last_seq, attempt,
                       CASE WHEN cancel_requested THEN 'RUN_CANCELLED' ELSE kind END,
                       CASE WHEN cancel_requested
                            THEN jsonb_build_object('attempt', attempt, 'reason', 'cancel requested')
                            ELSE payload END
                FROM r)
             SELECT id, attempt, status FROM r",
        )
        .await?;
    let rows = client
        .query(
            &statement,
            &[
                &c.ids,
                &c.attempts,
                &c.statuses,
                &c.results,
                &c.errors,
                &c.kinds,
                &c.payloads,
                &c.pending,
                &c.event_runs,
                &c.event_ords,
                &c.event_kinds,
                &c.event_payloads,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let status: String = row.get(2);
            let status = status.parse().unwrap_or(RunStatus::Failed);
            ((row.get(0), row.get(1)), status)
        })
        .collect())
}

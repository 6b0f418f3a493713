//! Admission: whether a delivered run may start now, or waits *parked* —
//! acked and off the queue, holding no worker slot — until its project has a
//! free slot; and the wakes that publish parked runs again.
//!
//! A project's limit is the smallest of its `settings.max_concurrent_runs`,
//! the api's default (`scheduler_config`) when the project sets none, and
//! its fair share while projects contend for the workers (`project_shares`,
//! written by [`crate::fair_share`]). A project with token budgets
//! (`settings.token_budget_daily`, `…_monthly`) is checked here too: a run
//! that would start over budget is parked until the budget has room
//! (`settings.over_budget: "wait"`, the default) or fails at once
//! (`"fail"`). A project with neither takes the claim's fast path and none
//! of this runs.
//!
//! What keeps the limit: every decision to start a limited run, and every
//! wake, first takes the project's row lock and only then counts, in a later
//! statement (so with a snapshot taken after the lock): a count sees every
//! start, park and ending committed before it (the one exception: a
//! newcomer that finds its project full parks in one statement without the
//! lock, and a wake it misses is made good by the api's scheduler pass). A
//! run counts from its claim
//! (RUNNING) until its attempt ends; a woken run holds its slot for
//! [`WOKEN_HOLD_S`] so that a newcomer does not take it first. Among a
//! project's waiting runs the higher `priority` starts first, then the
//! older: a newcomer parks while a better-ranked run of its project is
//! parked, and that one is woken instead.
//!
//! - [`limits`]: a project's limit as the SQL reads it, and the slots taken.
//! - [`wakes`]: waking parked runs for a project's free slots.

mod limits;
mod wakes;

pub(crate) use limits::{BUDGETED_SQL, OWN_LIMIT_SQL, SHARE_SQL};
pub use limits::{ParkReason, WOKEN_HOLD_S, set_default_limit};
pub use wakes::{projects_with_parked, wake};

use crate::StoreError;
use crate::claim::{self, Claim};
use crate::usage;
use agent_runner_domain::budget::{OverBudgetPolicy, TokenBudget};
use deadpool_postgres::{GenericClient, Pool};
use limits::{limit_of, taken};
use serde_json::Value;
use uuid::Uuid;
use wakes::wake_in;

/// The claim of a run whose project has a limit: starts it when the project
/// has a free slot and no better-ranked run of it is parked; parks it
/// otherwise ([`Claim::Parked`]). A RUNNING run whose lease expired already
/// holds its slot and is claimed as it is.
pub(crate) async fn claim_limited(
    pool: &Pool,
    run_id: Uuid,
    worker_id: &str,
    lease_s: f64,
) -> Result<Claim, StoreError> {
    let mut client = pool.get().await?;
    if let Some(reason) = park_if_full(&client, run_id).await? {
        return Ok(Claim::Parked {
            reason,
            woken: Vec::new(),
        });
    }
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            &format!(
                "SELECT p.id, {OWN_LIMIT_SQL}, {SHARE_SQL}, r.priority, r.status, p.settings, p.name
                 FROM runs r JOIN projects p ON p.id = r.project_id
                 WHERE r.id = $1 FOR NO KEY UPDATE OF p"
            ),
            &[&run_id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Claim::NotFound);
    };
    let project_id: Uuid = row.get(0);
    let limit = limit_of(row.get(1), row.get(2));
    let priority: i16 = row.get(3);
    let status: String = row.get(4);
    let settings: Value = row.get(5);
    let name: String = row.get(6);
    if status != "RUNNING" {
        let budget = TokenBudget::from_settings(&settings).unwrap_or_default();
        if let Some(over) = usage::over_budget_in(&tx, project_id, &budget).await? {
            let claim = match budget.over_budget {
                OverBudgetPolicy::Wait => {
                    park(&tx, run_id, ParkReason::Budget)
                        .await?
                        .then(|| Claim::Parked {
                            reason: ParkReason::Budget,
                            woken: Vec::new(),
                        })
                }
                OverBudgetPolicy::Fail => {
                    let error = format!("project {name} is {over}");
                    fail(&tx, run_id, &error)
                        .await?
                        .then_some(Claim::OverBudget(error))
                }
            };
            let claim = match claim {
                Some(claim) => claim,
                None => settled(&tx, run_id).await?,
            };
            tx.commit().await?;
            return Ok(claim);
        }
    }
    let start = match limit {
        Some(limit) if status != "RUNNING" => {
            let taken = taken(&tx, project_id, Some(run_id)).await?;
            let better_parked: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM runs
                         WHERE project_id = $1 AND parked_at IS NOT NULL AND id <> $2
                           AND status IN ('QUEUED', 'RETRYING') AND NOT cancel_requested
                           AND (priority > $3 OR (priority = $3 AND id < $2)))",
                    &[&project_id, &run_id, &priority],
                )
                .await?
                .get(0);
            if taken < limit.slots && !better_parked {
                Ok(())
            } else {
                Err((limit, taken))
            }
        }
        _ => Ok(()),
    };
    let claim = match start {
        Ok(()) => claim::claim_in(&tx, run_id, worker_id, lease_s, true).await?,
        Err((limit, taken)) => {
            if park(&tx, run_id, limit.reason).await? {
                // A free slot that a better-ranked parked run should have.
                let woken = if taken < limit.slots {
                    wake_in(&tx, project_id, limit.slots - taken).await?
                } else {
                    Vec::new()
                };
                Some(Claim::Parked {
                    reason: limit.reason,
                    woken,
                })
            } else {
                None
            }
        }
    };
    let claim = match claim {
        Some(claim) => claim,
        None => settled(&tx, run_id).await?,
    };
    tx.commit().await?;
    Ok(claim)
}

/// The common case of a project at its limit (a backlog arriving), in one
/// statement and without the project's lock: parks the run when the
/// project's slots are all taken already. Starting still takes the lock, so
/// the limit holds; what this gives up is only the lock's promise that no
/// wake is missed (an ending that committed just before this statement's
/// snapshot may have found nothing to wake), which the api's scheduler pass
/// makes good within `SCHEDULER_INTERVAL_MS`.
async fn park_if_full(
    client: &impl GenericClient,
    run_id: Uuid,
) -> Result<Option<ParkReason>, StoreError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH l AS (
                SELECT p.id, {OWN_LIMIT_SQL} AS own, {SHARE_SQL} AS share
                FROM runs r JOIN projects p ON p.id = r.project_id WHERE r.id = $1)
             UPDATE runs r SET parked_at = COALESCE(r.parked_at, clock_timestamp()),
                    parked_reason = CASE WHEN l.share < COALESCE(l.own, l.share + 1)
                                         THEN 'fair_share' ELSE 'project_limit' END,
                    woken_at = NULL, updated_at = clock_timestamp()
             FROM l
             WHERE r.id = $1 AND r.status IN ('QUEUED', 'RETRYING') AND NOT r.cancel_requested
               AND (SELECT count(*) FROM runs x
                     WHERE x.project_id = l.id AND x.status = 'RUNNING')
                 + (SELECT count(*) FROM runs x
                     WHERE x.project_id = l.id AND x.woken_at IS NOT NULL
                       AND x.woken_at > clock_timestamp() - make_interval(secs => $2)
                       AND x.status IN ('QUEUED', 'RETRYING') AND x.id <> r.id)
                 >= LEAST(l.own, l.share)
             RETURNING r.parked_reason"
        )
    });
    let statement = client.prepare_cached(&SQL).await?;
    let row = client
        .query_opt(&statement, &[&run_id, &WOKEN_HOLD_S])
        .await?;
    Ok(row.map(|row| {
        if row.get::<_, Option<String>>(0).as_deref() == Some("fair_share") {
            ParkReason::FairShare
        } else {
            ParkReason::ProjectLimit
        }
    }))
}

/// Parks the run for `reason`; `false` when it was cancelled or ended
/// meanwhile.
async fn park(
    tx: &impl GenericClient,
    run_id: Uuid,
    reason: ParkReason,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            "UPDATE runs SET parked_at = COALESCE(parked_at, clock_timestamp()),
                    parked_reason = $2, woken_at = NULL, updated_at = clock_timestamp()
             WHERE id = $1 AND status IN ('QUEUED', 'RETRYING') AND NOT cancel_requested",
            &[&run_id, &reason.as_str()],
        )
        .await?;
    Ok(n > 0)
}

/// Fails a run that would start over its project's budget
/// (`over_budget: "fail"`); `false` when it was cancelled or ended meanwhile.
pub(super) async fn fail(
    tx: &impl GenericClient,
    run_id: Uuid,
    error: &str,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            "WITH r AS (
                UPDATE runs SET status = 'FAILED', error = $2, lease_until = NULL,
                       finished_at = clock_timestamp(), updated_at = clock_timestamp(),
                       parked_at = NULL, parked_reason = NULL, woken_at = NULL,
                       last_seq = last_seq + 1
                WHERE id = $1 AND status IN ('QUEUED', 'RETRYING') AND NOT cancel_requested
                RETURNING id, last_seq, attempt)
             INSERT INTO events (run_id, seq, attempt, kind, payload)
             SELECT id, last_seq, attempt, 'RUN_FAILED',
                    jsonb_build_object('attempt', attempt, 'error', $2::text, 'over_budget', true)
             FROM r",
            &[&run_id, &error],
        )
        .await?;
    Ok(n > 0)
}

/// What a run the admission could not act on is (cancelled or ended
/// meanwhile).
async fn settled(tx: &impl GenericClient, run_id: Uuid) -> Result<Claim, StoreError> {
    Ok(match claim::settle(tx, run_id).await? {
        claim::Settled::Done(claim) => claim,
        claim::Settled::Limited => Claim::LeaseLive,
    })
}

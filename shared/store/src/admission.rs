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
//! start, park and ending committed before it. A run counts from its claim
//! (RUNNING) until its attempt ends; a woken run holds its slot for
//! [`WOKEN_HOLD_S`] so that a newcomer does not take it first. Among a
//! project's waiting runs the higher `priority` starts first, then the
//! older: a newcomer parks while a better-ranked run of its project is
//! parked, and that one is woken instead.

use crate::StoreError;
use crate::claim::{self, Claim};
use crate::outbox::Pending;
use crate::usage;
use agent_runner_domain::budget::{OverBudgetPolicy, TokenBudget};
use deadpool_postgres::{GenericClient, Pool};
use serde_json::Value;
use uuid::Uuid;

/// Seconds a woken run holds its project's slot before its claim.
pub const WOKEN_HOLD_S: f64 = 30.0;
/// Most runs of a project with no limit (any more) woken at once.
const UNLIMITED_WAKE_BATCH: i64 = 500;

/// `settings.max_concurrent_runs` of project `p`, or the api's default; NULL
/// when neither is set. Only a plain whole number counts (the api refuses
/// others), so a bad stored value can never fail the claim.
pub(crate) const OWN_LIMIT_SQL: &str = "COALESCE(
    CASE WHEN p.settings->>'max_concurrent_runs' ~ '^[0-9]{1,9}$'
         THEN (p.settings->>'max_concurrent_runs')::int END,
    (SELECT default_max_concurrent_runs FROM scheduler_config))";
/// Whether project `p` has a token budget.
pub(crate) const BUDGETED_SQL: &str = "(COALESCE(jsonb_typeof(p.settings->'token_budget_daily'), '')
      IN ('number') OR COALESCE(jsonb_typeof(p.settings->'token_budget_monthly'), '') IN ('number'))";
/// The fair share of project `p` while projects contend; NULL otherwise.
pub(crate) const SHARE_SQL: &str =
    "(SELECT s.slots FROM project_shares s WHERE s.project_id = p.id)";

/// Which rule holds a parked run back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkReason {
    /// The project's own (or the default) `max_concurrent_runs`.
    ProjectLimit,
    /// Its fair share of the workers while other projects wait.
    FairShare,
    /// Its token budget is used up (`over_budget: "wait"`).
    Budget,
}

impl ParkReason {
    /// The stored (and shown) name.
    pub fn as_str(self) -> &'static str {
        match self {
            ParkReason::ProjectLimit => "project_limit",
            ParkReason::FairShare => "fair_share",
            ParkReason::Budget => "budget",
        }
    }
}

/// A project's limit as the admission sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limit {
    slots: i64,
    reason: ParkReason,
}

fn limit_of(own: Option<i32>, share: Option<i32>) -> Option<Limit> {
    match (own, share) {
        (None, None) => None,
        (Some(own), Some(share)) if share < own => Some(Limit {
            slots: share.into(),
            reason: ParkReason::FairShare,
        }),
        (Some(own), _) => Some(Limit {
            slots: own.into(),
            reason: ParkReason::ProjectLimit,
        }),
        (None, Some(share)) => Some(Limit {
            slots: share.into(),
            reason: ParkReason::FairShare,
        }),
    }
}

/// How many of project's slots are taken: RUNNING runs and runs woken for a
/// slot not claimed yet, leaving `except` out.
async fn taken(
    tx: &impl GenericClient,
    project_id: Uuid,
    except: Option<Uuid>,
) -> Result<i64, StoreError> {
    let row = tx
        .query_one(
            "SELECT (SELECT count(*) FROM runs
                      WHERE project_id = $1 AND status = 'RUNNING'
                        AND id IS DISTINCT FROM $2)
                  + (SELECT count(*) FROM runs
                      WHERE project_id = $1 AND woken_at IS NOT NULL
                        AND woken_at > clock_timestamp() - make_interval(secs => $3)
                        AND status IN ('QUEUED', 'RETRYING') AND id IS DISTINCT FROM $2)",
            &[&project_id, &except, &WOKEN_HOLD_S],
        )
        .await?;
    Ok(row.get(0))
}

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
async fn fail(tx: &impl GenericClient, run_id: Uuid, error: &str) -> Result<bool, StoreError> {
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
async fn wake_in(
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

/// Writes the api's default limit for projects that set none.
pub async fn set_default_limit(pool: &Pool, limit: Option<u32>) -> Result<(), StoreError> {
    let limit = limit.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE scheduler_config SET default_max_concurrent_runs = $1, updated_at = now()
             WHERE default_max_concurrent_runs IS DISTINCT FROM $1",
            &[&limit],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smaller_of_the_own_limit_and_the_share_holds() {
        assert_eq!(limit_of(None, None), None);
        let own = |slots| Limit {
            slots,
            reason: ParkReason::ProjectLimit,
        };
        let share = |slots| Limit {
            slots,
            reason: ParkReason::FairShare,
        };
        assert_eq!(limit_of(Some(2), None), Some(own(2)));
        assert_eq!(limit_of(None, Some(5)), Some(share(5)));
        assert_eq!(limit_of(Some(2), Some(5)), Some(own(2)));
        assert_eq!(limit_of(Some(5), Some(2)), Some(share(2)));
        assert_eq!(limit_of(Some(3), Some(3)), Some(own(3)));
    }
}

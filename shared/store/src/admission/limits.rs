//! A project's limit as the admission reads it: its own
//! `max_concurrent_runs` (or the api's default), its fair share, whether it
//! has a token budget, and how many of its slots are taken.

use crate::StoreError;
use deadpool_postgres::{GenericClient, Pool};
use uuid::Uuid;

/// Seconds a woken run holds its project's slot before its claim.
pub const WOKEN_HOLD_S: f64 = 30.0;

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
pub(super) struct Limit {
    pub(super) slots: i64,
    pub(super) reason: ParkReason,
}

pub(super) fn limit_of(own: Option<i32>, share: Option<i32>) -> Option<Limit> {
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
pub(super) async fn taken(
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

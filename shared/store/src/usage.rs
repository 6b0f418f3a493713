//! What each project spends: the tokens its runs' model calls reported, per
//! UTC day (`project_usage`), and the runs it started per day — read from
//! `runs.started_at`, set when a run's first attempt is claimed, so a run
//! counts once, on the day it first started, however many attempts and
//! follow-ups it takes. The token budgets are checked against these sums
//! ([`over_budget`]).

use crate::StoreError;
use agent_runner_domain::budget::{OverBudget, TokenBudget};
use chrono::NaiveDate;
use deadpool_postgres::{GenericClient, Pool};
use serde::Serialize;
use uuid::Uuid;

/// Adds one model call that reported `tokens` to the project's usage today.
pub async fn record(pool: &Pool, project_id: Uuid, tokens: u64) -> Result<(), StoreError> {
    let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO project_usage AS u (project_id, day, tokens, calls)
             VALUES ($1, (clock_timestamp() AT TIME ZONE 'UTC')::date, $2, 1)
             ON CONFLICT (project_id, day) DO UPDATE
                SET tokens = u.tokens + EXCLUDED.tokens, calls = u.calls + 1",
            &[&project_id, &tokens],
        )
        .await?;
    Ok(())
}

/// The budget of `budget` the project has used up, if any (the daily one
/// first). No query when the project has no budget.
pub async fn over_budget(
    pool: &Pool,
    project_id: Uuid,
    budget: &TokenBudget,
) -> Result<Option<OverBudget>, StoreError> {
    if !budget.is_limited() {
        return Ok(None);
    }
    let client = pool.get().await?;
    over_budget_in(&client, project_id, budget).await
}

/// [`over_budget`] on `client` (inside the caller's transaction).
pub(crate) async fn over_budget_in(
    client: &impl GenericClient,
    project_id: Uuid,
    budget: &TokenBudget,
) -> Result<Option<OverBudget>, StoreError> {
    if !budget.is_limited() {
        return Ok(None);
    }
    let row = client
        .query_one(
            "WITH today AS (SELECT (clock_timestamp() AT TIME ZONE 'UTC')::date AS d)
             SELECT coalesce(sum(u.tokens) FILTER (WHERE u.day = today.d), 0)::bigint,
                    coalesce(sum(u.tokens), 0)::bigint
               FROM today
               LEFT JOIN project_usage u
                 ON u.project_id = $1 AND u.day >= date_trunc('month', today.d)::date
              GROUP BY today.d",
            &[&project_id],
        )
        .await?;
    let used = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    Ok(budget.exceeded(used(0), used(1)))
}

/// A project's usage over one period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PeriodUsage {
    /// The period's first day (UTC): the day, or the month's first day.
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
    /// Tokens the model reported for the project's calls.
    pub tokens: i64,
    /// Runs of the project that first started in the period.
    pub runs: i64,
}

/// A project's usage by day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    /// Today (UTC).
    pub today: PeriodUsage,
    /// This calendar month (UTC), from its first day.
    pub this_month: PeriodUsage,
    /// The last `days` days, today first, each one listed (zeros too).
    pub days: Vec<PeriodUsage>,
}

/// The project's usage today, this month, and on each of the last `days`
/// days (today included; at least 1).
pub async fn by_day(pool: &Pool, project_id: Uuid, days: i32) -> Result<Usage, StoreError> {
    let days = days.max(1);
    let client = pool.get().await?;
    let rows = client
        .query(
            "WITH today AS (SELECT (clock_timestamp() AT TIME ZONE 'UTC')::date AS d),
             span AS (
                 SELECT d, date_trunc('month', d)::date AS month,
                        least(d - ($2::int - 1), date_trunc('month', d)::date) AS since
                   FROM today),
             tokens AS (
                 SELECT u.day, u.tokens FROM project_usage u, span
                  WHERE u.project_id = $1 AND u.day >= span.since),
             started AS (
                 SELECT (r.started_at AT TIME ZONE 'UTC')::date AS day, count(*) AS runs
                   FROM runs r, span
                  WHERE r.project_id = $1 AND r.started_at IS NOT NULL
                    AND r.started_at >= (span.since::timestamp AT TIME ZONE 'UTC')
                  GROUP BY 1),
             listed AS (SELECT (span.d - g)::date AS day FROM span, generate_series(0, $2::int - 1) g)
             SELECT false, l.day, coalesce(t.tokens, 0)::bigint, coalesce(s.runs, 0)::bigint
               FROM listed l
               LEFT JOIN tokens t USING (day)
               LEFT JOIN started s USING (day)
             UNION ALL
             SELECT true, span.month,
                    (SELECT coalesce(sum(tokens), 0) FROM tokens WHERE day >= span.month)::bigint,
                    (SELECT coalesce(sum(runs), 0) FROM started WHERE day >= span.month)::bigint
               FROM span
             ORDER BY 1, 2 DESC",
            &[&project_id, &days],
        )
        .await?;
    let mut listed = Vec::new();
    let mut month = None;
    for row in &rows {
        let usage = PeriodUsage {
            day: row.get(1),
            tokens: row.get(2),
            runs: row.get(3),
        };
        if row.get::<_, bool>(0) {
            month = Some(usage);
        } else {
            listed.push(usage);
        }
    }
    let today = listed.first().cloned();
    match (today, month) {
        (Some(today), Some(this_month)) => Ok(Usage {
            today,
            this_month,
            days: listed,
        }),
        _ => Err(StoreError::Unavailable(
            "the usage query returned no rows".into(),
        )),
    }
}

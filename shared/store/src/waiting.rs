//! Why a run that is not running is waiting, in words a user can check:
//! queued behind older waiting runs, no live worker to take it, its project
//! at its concurrency limit, at its fair share of the workers or over its
//! token budget (parked by [`crate::admission`]), a retry's backoff until a given time, or a
//! reviewer's decision — and a RUNNING run whose agent waits for the model
//! endpoint's shared rate limit. Read at the time of the question from what
//! the database already holds (no state of its own).

use crate::StoreError;
use agent_runner_domain::allowance::Limit;
use agent_runner_domain::budget::TokenBudget;
use agent_runner_domain::{EventKind, RunStatus};
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;
use uuid::Uuid;

/// Why a run waits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Waiting {
    /// `queued`, `no_worker`, `project_limit`, `fair_share`, `budget`,
    /// `retry_backoff`, `awaiting_approval`, or `rate_limit` (a RUNNING run
    /// waiting for the model's allowance).
    pub reason: &'static str,
    /// The same in words.
    pub detail: String,
    /// Waiting runs submitted before this one (QUEUED or RETRYING), for
    /// `queued` and `no_worker`; for `project_limit` and `fair_share`, the
    /// project's parked runs that start before this one (higher priority, or
    /// as high and older).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    /// When a retry's backoff ends, for `retry_backoff`; when the model
    /// call is expected to go, for `rate_limit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// The project's runs running now, for `project_limit` and `fair_share`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<i64>,
    /// The slots the project may use: its limit, or its fair share, for
    /// `project_limit` and `fair_share`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// Why the run `id` in `status` waits; `None` for a run that is finished or
/// running (unless it waits for the model's allowance). `stale_s`: how long
/// a worker may be silent and still count as live.
pub async fn of(
    pool: &Pool,
    id: Uuid,
    status: RunStatus,
    stale_s: f64,
) -> Result<Option<Waiting>, StoreError> {
    if status == RunStatus::Running {
        return rate_limited(pool, id).await;
    }
    if status == RunStatus::AwaitingApproval {
        return Ok(Some(Waiting {
            reason: "awaiting_approval",
            detail: "waits for a reviewer to approve or reject it".into(),
            ..Waiting::default()
        }));
    }
    if !matches!(status, RunStatus::Queued | RunStatus::Retrying) {
        return Ok(None);
    }
    if let Some(parked) = parked(pool, id).await? {
        return Ok(Some(parked));
    }
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT
                (SELECT count(*) FROM runs
                  WHERE status IN ('QUEUED', 'RETRYING') AND id < $1),
                (SELECT count(*) FROM workers
                  WHERE stopped_at IS NULL
                    AND last_heartbeat > now() - make_interval(secs => $2)),
                (SELECT e.created_at + make_interval(secs => (e.payload->>'delay_ms')::float8 / 1000)
                   FROM events e
                  WHERE e.run_id = $1 AND e.kind = 'RUN_RETRYING'
                  ORDER BY e.seq DESC LIMIT 1),
                now()",
            &[&id, &stale_s],
        )
        .await?;
    let ahead: i64 = row.get(0);
    let live_workers: i64 = row.get(1);
    let retry_until: Option<DateTime<Utc>> = row.get(2);
    let now: DateTime<Utc> = row.get(3);
    if status == RunStatus::Retrying
        && let Some(until) = retry_until.filter(|until| *until > now)
    {
        return Ok(Some(Waiting {
            reason: "retry_backoff",
            detail: format!(
                "retries after a transient failure at {}",
                until.format("%Y-%m-%dT%H:%M:%SZ")
            ),
            until: Some(until),
            ..Waiting::default()
        }));
    }
    Ok(Some(if live_workers == 0 {
        Waiting {
            reason: "no_worker",
            detail: format!(
                "no live worker is connected to take it; {} ahead of it",
                runs(ahead)
            ),
            position: Some(ahead),
            ..Waiting::default()
        }
    } else {
        Waiting {
            reason: "queued",
            detail: format!("queued behind {}", runs(ahead)),
            position: Some(ahead),
            ..Waiting::default()
        }
    }))
}

fn runs(n: i64) -> String {
    if n == 1 {
        "1 run".to_owned()
    } else {
        format!("{n} runs")
    }
}

/// How many of the project's parked runs start before this one, in words.
fn ahead_of(n: i64) -> String {
    match n {
        0 => "no run of the project is ahead of this one".to_owned(),
        1 => "1 run of the project is ahead of this one".to_owned(),
        n => format!("{n} runs of the project are ahead of this one"),
    }
}

/// Why a parked run waits: its project's limit or share, how many of its
/// runs run, and how many of its parked runs start first.
async fn parked(pool: &Pool, id: Uuid) -> Result<Option<Waiting>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!(
                "SELECT r.parked_reason, p.name, {own}, {share},
                        (SELECT count(*) FROM runs x
                          WHERE x.project_id = r.project_id AND x.status = 'RUNNING'),
                        (SELECT count(*) FROM runs x
                          WHERE x.project_id = r.project_id AND x.parked_at IS NOT NULL
                            AND x.status IN ('QUEUED', 'RETRYING') AND x.id <> r.id
                            AND (x.priority > r.priority
                                 OR (x.priority = r.priority AND x.id < r.id))),
                        p.id, p.settings
                 FROM runs r JOIN projects p ON p.id = r.project_id
                 WHERE r.id = $1 AND r.parked_at IS NOT NULL",
                own = crate::admission::OWN_LIMIT_SQL,
                share = crate::admission::SHARE_SQL,
            ),
            &[&id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let reason: Option<String> = row.get(0);
    let project: String = row.get(1);
    let own: Option<i32> = row.get(2);
    let share: Option<i32> = row.get(3);
    let running: i64 = row.get(4);
    let ahead: i64 = row.get(5);
    if reason.as_deref() == Some("budget") {
        let budget =
            TokenBudget::from_settings(&row.get::<_, serde_json::Value>(7)).unwrap_or_default();
        let over = crate::usage::over_budget_in(&client, row.get(6), &budget).await?;
        let why = over.map_or_else(
            || "was over its token budget".to_owned(),
            |over| format!("is {over}"),
        );
        return Ok(Some(Waiting {
            reason: "budget",
            detail: format!(
                "project {project} {why}; it starts when the budget has room again (a new UTC \
                 day or month, or a higher budget), and {}",
                ahead_of(ahead)
            ),
            position: Some(ahead),
            ..Waiting::default()
        }));
    }
    let fair = reason.as_deref() == Some("fair_share");
    let limit = if fair { share.or(own) } else { own.or(share) };
    let limit = limit.map(i64::from);
    let slots = limit.map_or_else(|| "?".to_owned(), |n| n.to_string());
    let detail = if fair {
        format!(
            "project {project} is at its fair share of the workers while other projects wait: \
             {running} of {slots} running, and {}",
            ahead_of(ahead)
        )
    } else {
        format!(
            "project {project} is at its concurrency limit: {running} of {slots} running, and {}",
            ahead_of(ahead)
        )
    };
    Ok(Some(Waiting {
        reason: if fair { "fair_share" } else { "project_limit" },
        detail,
        position: Some(ahead),
        running: Some(running),
        limit,
        ..Waiting::default()
    }))
}

/// How many runs wait for each reason of [`of`] (every reason present, 0
/// when none): what `/metrics` shows. A run counts once.
pub async fn counts(pool: &Pool, stale_s: f64) -> Result<Vec<(&'static str, i64)>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "WITH waiting AS (
                 SELECT r.status, r.parked_reason,
                        r.status = 'RETRYING' AND r.parked_at IS NULL AND EXISTS (
                            SELECT 1 FROM events e
                             WHERE e.run_id = r.id AND e.seq = r.last_seq
                               AND e.kind = 'RUN_RETRYING'
                               AND e.created_at + make_interval(
                                       secs => (e.payload->>'delay_ms')::float8 / 1000)
                                   > clock_timestamp()) AS backing_off
                 FROM runs r
                 WHERE r.status IN ('QUEUED', 'RETRYING', 'AWAITING_APPROVAL'))
             SELECT count(*) FILTER (WHERE status = 'AWAITING_APPROVAL'),
                    count(*) FILTER (WHERE backing_off),
                    count(*) FILTER (WHERE status IN ('QUEUED', 'RETRYING') AND NOT backing_off
                                       AND parked_reason IS NULL),
                    (SELECT count(*) FROM workers
                      WHERE stopped_at IS NULL
                        AND last_heartbeat > now() - make_interval(secs => $1)),
                    count(*) FILTER (WHERE status IN ('QUEUED', 'RETRYING')
                                       AND parked_reason = 'project_limit'),
                    count(*) FILTER (WHERE status IN ('QUEUED', 'RETRYING')
                                       AND parked_reason = 'fair_share'),
                    count(*) FILTER (WHERE status IN ('QUEUED', 'RETRYING')
                                       AND parked_reason = 'budget')
             FROM waiting",
            &[&stale_s],
        )
        .await?;
    let ready: i64 = row.get(2);
    let live_workers: i64 = row.get(3);
    let (queued, no_worker) = if live_workers == 0 {
        (0, ready)
    } else {
        (ready, 0)
    };
    Ok(vec![
        ("awaiting_approval", row.get(0)),
        ("retry_backoff", row.get(1)),
        ("queued", queued),
        ("no_worker", no_worker),
        ("project_limit", row.get(4)),
        ("fair_share", row.get(5)),
        ("budget", row.get(6)),
        ("rate_limit", rate_limited_count(&client).await?),
    ])
}

/// Why the RUNNING run `id` waits, when its newest event is MODEL_WAITING:
/// its agent holds a model call back until the endpoint's shared allowance
/// has room.
async fn rate_limited(pool: &Pool, id: Uuid) -> Result<Option<Waiting>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT e.created_at + make_interval(secs => (e.payload->>'wait_ms')::float8 / 1000),
                    e.payload->>'limit'
               FROM runs r
               JOIN events e ON e.run_id = r.id AND e.seq = r.last_seq
              WHERE r.id = $1 AND r.status = 'RUNNING' AND e.kind = $2",
            &[&id, &EventKind::ModelWaiting.as_str()],
        )
        .await?;
    Ok(row.map(|row| {
        let until: Option<DateTime<Utc>> = row.get(0);
        let limit = row
            .get::<_, Option<String>>(1)
            .and_then(|l| Limit::parse(&l));
        let why = match limit {
            Some(Limit::Requests) => "its requests per minute",
            Some(Limit::Tokens) => "its tokens per minute",
            Some(Limit::RetryAfter) => "the Retry-After it answered with",
            None => "its rate limit",
        };
        let when = until.map_or_else(String::new, |until| {
            format!(" until about {}", until.format("%Y-%m-%dT%H:%M:%SZ"))
        });
        Waiting {
            reason: "rate_limit",
            detail: format!("its next model call waits for the model endpoint ({why}){when}"),
            until,
            ..Waiting::default()
        }
    }))
}

/// RUNNING runs whose newest event is MODEL_WAITING.
async fn rate_limited_count(client: &deadpool_postgres::Client) -> Result<i64, StoreError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM runs r
               JOIN events e ON e.run_id = r.id AND e.seq = r.last_seq
              WHERE r.status = 'RUNNING' AND e.kind = $1",
            &[&EventKind::ModelWaiting.as_str()],
        )
        .await?;
    Ok(row.get(0))
}

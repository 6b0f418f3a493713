//! Runs as the api sees them: create (with its first event and outbox row in
//! one statement), read, list, and the client-driven transitions.

use crate::StoreError;
use crate::access::Scope;
use crate::events::insert_event;
use agent_runner_domain::{EventKind, RunStatus};
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::LazyLock;
use tokio_postgres::Row;
use uuid::Uuid;

/// A run row.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Run {
    /// Run id (UUIDv7: ordered by creation).
    pub id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// What the agent should achieve.
    pub goal: String,
    /// Agent kind.
    pub agent: String,
    /// Agent parameters; answered with secrets masked
    /// ([`agent_runner_domain::secret`]).
    #[serde(serialize_with = "agent_runner_domain::secret::serialize_masked_json")]
    pub params: Value,
    /// Current status.
    pub status: RunStatus,
    /// Number of the latest attempt (0 before the first claim).
    pub attempt: i32,
    /// Attempts allowed in all.
    pub max_attempts: i32,
    /// Deadline of each attempt, in seconds.
    pub timeout_s: i32,
    /// Worker holding (or last holding) the run.
    pub worker_id: Option<String>,
    /// Until when that worker's lease runs.
    pub lease_until: Option<DateTime<Utc>>,
    /// Why the run failed or was retried last.
    pub error: Option<String>,
    /// What the agent produced.
    pub result: Option<Value>,
    /// True once a cancel was requested.
    pub cancel_requested: bool,
    /// When the api accepted the run.
    pub created_at: DateTime<Utc>,
    /// When the first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the run reached its current terminal (or approval) state.
    pub finished_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Order among its project's waiting runs (-10 to 10, higher first).
    pub priority: i16,
}

/// Columns selected for a [`Run`], in [`Run::from_row_at`] order.
pub(crate) const COLUMNS: &str = "id, project_id, goal, agent, params, status, attempt, max_attempts, \
     timeout_s, worker_id, lease_until, error, result, cancel_requested, created_at, started_at, \
     finished_at, updated_at, priority";
/// [`COLUMNS`] with no `result` read (a listing's brief rows).
const BRIEF_COLUMNS: &str = "id, project_id, goal, agent, params, status, attempt, max_attempts, \
     timeout_s, worker_id, lease_until, error, NULL::jsonb, cancel_requested, created_at, \
     started_at, finished_at, updated_at, priority";
/// Number of columns in [`COLUMNS`].
pub(crate) const COLUMN_COUNT: usize = 19;

impl Run {
    pub(crate) fn from_row(row: &Row) -> Self {
        Self::from_row_at(row, 0)
    }

    /// Reads a run from `row` starting at column `o`.
    pub(crate) fn from_row_at(row: &Row, o: usize) -> Self {
        let status: String = row.get(o + 5);
        Run {
            id: row.get(o),
            project_id: row.get(o + 1),
            goal: row.get(o + 2),
            agent: row.get(o + 3),
            params: row.get(o + 4),
            // The CHECK constraint keeps unknown statuses out of the table.
            status: status.parse().unwrap_or(RunStatus::Failed),
            attempt: row.get(o + 6),
            max_attempts: row.get(o + 7),
            timeout_s: row.get(o + 8),
            worker_id: row.get(o + 9),
            lease_until: row.get(o + 10),
            error: row.get(o + 11),
            result: row.get(o + 12),
            cancel_requested: row.get(o + 13),
            created_at: row.get(o + 14),
            started_at: row.get(o + 15),
            finished_at: row.get(o + 16),
            updated_at: row.get(o + 17),
            priority: row.get(o + 18),
        }
    }
}

/// A validated run ready to insert.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Its project (must exist).
    pub project_id: Uuid,
    /// Goal.
    pub goal: String,
    /// Agent kind.
    pub agent: String,
    /// Parameters object.
    pub params: Value,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Attempt deadline in seconds.
    pub timeout_s: i32,
    /// Order among the project's waiting runs.
    pub priority: i16,
    /// Client-chosen key making the submission idempotent, with the token
    /// that chose it.
    pub idempotency: Option<Idempotency>,
    /// W3C `traceparent` of the submitting request, kept with the outbox
    /// row so that whoever publishes the job continues the trace.
    pub traceparent: Option<String>,
}

/// An `Idempotency-Key` and the token that sent it: keys are one token's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// The token.
    pub token_id: Uuid,
    /// The key.
    pub key: String,
}

/// What [`create`] did.
#[derive(Debug, Clone)]
pub enum Created {
    /// A new run; `outbox_id` is the row to mark sent once published.
    New {
        /// The run.
        run: Run,
        /// Its outbox row.
        outbox_id: i64,
    },
    /// The idempotency key was used before: the run it created.
    Existing(Run),
}

/// The insert the submit statements start with (a new run is QUEUED, its
/// `last_seq` 1 for RUN_CREATED).
pub(crate) const INSERT_SQL: &str = "INSERT INTO runs (id, project_id, goal, agent, params, status, \
     max_attempts, timeout_s, idempotency_token, idempotency_key, last_seq, priority)";

/// The RUN_CREATED event (seq 1) of every run the submit statement inserted
/// (`r`), as a CTE followed by a comma.
pub(crate) static CREATED_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "e AS (
            INSERT INTO events (run_id, seq, attempt, kind, payload)
            SELECT id, 1, 0, '{created}',
                   jsonb_build_object('goal', goal, 'agent', agent, 'project_id', project_id)
            FROM r),",
        created = EventKind::RunCreated.as_str(),
    )
});

/// Inserts the run, its RUN_CREATED event (seq 1) and an outbox row in one
/// statement. With an idempotency key already used, returns that run, or
/// [`StoreError::Conflict`] when the earlier request differed.
pub async fn create(pool: &Pool, new: &NewRun) -> Result<Created, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH r AS (
                {INSERT_SQL}
                VALUES ($1, $2, $3, $4, $5, 'QUEUED', $6, $7, $8, $10, 1, $11)
                ON CONFLICT (idempotency_token, idempotency_key) DO NOTHING
                RETURNING {COLUMNS}),
             {created}
             o AS (
                INSERT INTO outbox (run_id, attempt, traceparent)
                SELECT id, 0, $9 FROM r RETURNING id)
             SELECT r.*, o.id FROM r, o",
            created = CREATED_SQL.as_str(),
        )
    });
    let client = pool.get().await?;
    let statement = client.prepare_cached(&SQL).await?;
    let row = client
        .query_opt(
            &statement,
            &[
                &Uuid::now_v7(),
                &new.project_id,
                &new.goal,
                &new.agent,
                &new.params,
                &new.max_attempts,
                &new.timeout_s,
                &new.idempotency.as_ref().map(|i| i.token_id),
                &new.traceparent,
                &new.idempotency.as_ref().map(|i| i.key.as_str()),
                &new.priority,
            ],
        )
        .await?;
    drop(client);
    match row {
        Some(row) => Ok(Created::New {
            run: Run::from_row(&row),
            outbox_id: row.get(COLUMN_COUNT),
        }),
        None => existing_for_key(pool, new).await,
    }
}

/// The run an idempotency key created, when `new` asks for exactly that
/// run; [`StoreError::Conflict`] naming what differs otherwise (as Stripe
/// answers a key reused with other parameters).
async fn existing_for_key(pool: &Pool, new: &NewRun) -> Result<Created, StoreError> {
    let Some(idempotency) = &new.idempotency else {
        return Err(StoreError::Conflict("the run could not be created".into()));
    };
    let client = pool.get().await?;
    let row = client
        .query_one(
            &format!(
                "SELECT {COLUMNS} FROM runs WHERE idempotency_token = $1 AND idempotency_key = $2"
            ),
            &[&idempotency.token_id, &idempotency.key],
        )
        .await?;
    let run = Run::from_row(&row);
    let differences = differences(&run, new);
    if !differences.is_empty() {
        return Err(StoreError::Conflict(format!(
            "Idempotency-Key `{}` was used for a request with a different {}; use a new key \
             for a new run",
            idempotency.key,
            differences.join(", ")
        )));
    }
    Ok(Created::Existing(run))
}

/// The fields of a submission in which `new` differs from the run `run`.
fn differences(run: &Run, new: &NewRun) -> Vec<&'static str> {
    [
        ("project_id", run.project_id == new.project_id),
        ("goal", run.goal == new.goal),
        ("agent", run.agent == new.agent),
        ("params", run.params == new.params),
        ("max_attempts", run.max_attempts == new.max_attempts),
        ("timeout_s", run.timeout_s == new.timeout_s),
        ("priority", run.priority == new.priority),
    ]
    .into_iter()
    .filter_map(|(field, same)| (!same).then_some(field))
    .collect()
}

/// Reads one run.
pub async fn get(pool: &Pool, id: Uuid) -> Result<Option<Run>, StoreError> {
    get_in(pool, id, Scope::ALL).await
}

/// Reads one run if `scope` covers its project (`None` otherwise, as when
/// there is no such run).
pub async fn get_in(pool: &Pool, id: Uuid, scope: Scope<'_>) -> Result<Option<Run>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {COLUMNS} FROM runs
             WHERE id = $1 AND ($2::uuid[] IS NULL OR project_id = ANY($2))"
        )
    });
    let client = pool.get().await?;
    let statement = client.prepare_cached(&SQL).await?;
    let row = client.query_opt(&statement, &[&id, &scope.param()]).await?;
    Ok(row.as_ref().map(Run::from_row))
}

/// Whether the run exists and `scope` covers its project. A run never
/// changes project, so the answer holds for the rest of a request.
pub async fn in_scope(pool: &Pool, id: Uuid, scope: Scope<'_>) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM runs
                            WHERE id = $1 AND ($2::uuid[] IS NULL OR project_id = ANY($2)))",
        )
        .await?;
    let row = client.query_one(&statement, &[&id, &scope.param()]).await?;
    Ok(row.get(0))
}

/// Filters and page of a run listing (keyset pagination on the id).
#[derive(Debug, Clone, Default)]
pub struct RunFilter<'a> {
    /// Only runs of these projects (the token's scope).
    pub scope: Scope<'a>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs of this project.
    pub project_id: Option<Uuid>,
    /// Only runs of this agent.
    pub agent: Option<&'a str>,
    /// Only runs whose goal contains this text, ignoring case.
    pub goal_contains: Option<&'a str>,
    /// Only runs older than this id (the previous page's cursor).
    pub before: Option<Uuid>,
    /// Page size.
    pub limit: i64,
    /// Leave each run's `result` out (`None`): a page of `llm` runs is
    /// mostly their results.
    pub brief: bool,
}

/// Lists runs newest first.
pub async fn list(pool: &Pool, filter: &RunFilter<'_>) -> Result<Vec<Run>, StoreError> {
    let client = pool.get().await?;
    let status = filter.status.map(|s| s.as_str());
    let columns = if filter.brief { BRIEF_COLUMNS } else { COLUMNS };
    let rows = client
        .query(
            &format!(
                "SELECT {columns} FROM runs
                 WHERE ($1::text IS NULL OR status = $1)
                   AND ($2::uuid IS NULL OR project_id = $2)
                   AND ($3::uuid IS NULL OR id < $3)
                   AND ($5::uuid[] IS NULL OR project_id = ANY($5))
                   AND ($6::text IS NULL OR agent = $6)
                   AND ($7::text IS NULL OR strpos(lower(goal), lower($7)) > 0)
                 ORDER BY id DESC LIMIT $4"
            ),
            &[
                &status,
                &filter.project_id,
                &filter.before,
                &filter.limit,
                &filter.scope.param(),
                &filter.agent,
                &filter.goal_contains,
            ],
        )
        .await?;
    Ok(rows.iter().map(Run::from_row).collect())
}

/// What a cancel request did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// The run had not started: it is CANCELLED now.
    Cancelled(Run),
    /// The run is executing: its worker was told and will end it CANCELLED.
    Requested(Run),
    /// The run is already in a terminal state.
    AlreadyFinished(Run),
    /// No such run.
    NotFound,
}

/// Cancels a run: at once when it is QUEUED, RETRYING or AWAITING_APPROVAL,
/// by request (and a NOTIFY on `run_cancel` that workers listen to) when it
/// is RUNNING. One statement decides, on the row as it is when the statement
/// gets it: a run whose attempt hands off (RUNNING → RETRYING) meanwhile is
/// cancelled at once rather than refused, and an attempt that ends after the
/// request ends the run CANCELLED (see [`attempt::finish`](crate::attempt::finish)).
pub async fn cancel(pool: &Pool, id: Uuid) -> Result<CancelOutcome, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            &format!(
                "UPDATE runs SET cancel_requested = true, updated_at = clock_timestamp(),
                        status = CASE WHEN status = 'RUNNING' THEN status ELSE 'CANCELLED' END,
                        lease_until = CASE WHEN status = 'RUNNING' THEN lease_until END,
                        finished_at = CASE WHEN status = 'RUNNING' THEN finished_at
                                           ELSE clock_timestamp() END,
                        parked_at = NULL, parked_reason = NULL, woken_at = NULL
                 WHERE id = $1 AND status IN ('QUEUED', 'RETRYING', 'AWAITING_APPROVAL', 'RUNNING')
                 RETURNING {COLUMNS}"
            ),
            &[&id],
        )
        .await?;
    if let Some(row) = row {
        let run = Run::from_row(&row);
        if run.status == RunStatus::Running {
            tx.execute("SELECT pg_notify('run_cancel', $1)", &[&id.to_string()])
                .await?;
            tx.commit().await?;
            return Ok(CancelOutcome::Requested(run));
        }
        insert_event(
            &tx,
            id,
            EventKind::RunCancelled,
            &json!({"reason": "cancel requested"}),
        )
        .await?;
        tx.commit().await?;
        return Ok(CancelOutcome::Cancelled(run));
    }
    let row = tx
        .query_opt(&format!("SELECT {COLUMNS} FROM runs WHERE id = $1"), &[&id])
        .await?;
    Ok(match row {
        Some(row) => CancelOutcome::AlreadyFinished(Run::from_row(&row)),
        None => CancelOutcome::NotFound,
    })
}

/// What a retry request did.
#[derive(Debug, Clone)]
pub enum RetryOutcome {
    /// The run is QUEUED again; publish `outbox_id`.
    Requeued {
        /// The run.
        run: Run,
        /// Its new outbox row.
        outbox_id: i64,
    },
    /// The run is not FAILED or CANCELLED.
    NotRetryable(Run),
    /// No such run.
    NotFound,
}

/// Re-queues a FAILED or CANCELLED run for a new attempt, keeping its history;
/// the attempt budget is extended by one so the new attempt may run.
/// `traceparent` (of the request) goes with the outbox row.
pub async fn retry(
    pool: &Pool,
    id: Uuid,
    traceparent: Option<&str>,
) -> Result<RetryOutcome, StoreError> {
    requeue(
        pool,
        id,
        &["FAILED", "CANCELLED"],
        EventKind::RunRetrying,
        json!({"reason": "retry requested"}),
        traceparent,
    )
    .await
}

/// Re-queues a run that is in one of `from` as a new attempt and records
/// `kind` with `payload` on its timeline, all in one transaction. The outbox
/// row keeps `traceparent`, the trace the job message continues.
pub async fn requeue(
    pool: &Pool,
    id: Uuid,
    from: &[&str],
    kind: EventKind,
    payload: Value,
    traceparent: Option<&str>,
) -> Result<RetryOutcome, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some((run, outbox_id)) = requeue_in(&tx, id, from, kind, &payload, traceparent).await?
    else {
        return not_requeued(&tx, id).await;
    };
    tx.commit().await?;
    Ok(RetryOutcome::Requeued { run, outbox_id })
}

/// The run as it is, for a requeue that did not apply.
pub(crate) async fn not_requeued(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<RetryOutcome, StoreError> {
    let row = client
        .query_opt(&format!("SELECT {COLUMNS} FROM runs WHERE id = $1"), &[&id])
        .await?;
    Ok(match row {
        Some(row) => RetryOutcome::NotRetryable(Run::from_row(&row)),
        None => RetryOutcome::NotFound,
    })
}

/// The guarded part of [`requeue`], inside the caller's transaction: QUEUED
/// again, the event, an outbox row (with `traceparent`). Refused (`None`) while a review of the
/// run is open, so a reviewer's merge never races a new attempt.
pub(crate) async fn requeue_in(
    tx: &impl GenericClient,
    id: Uuid,
    from: &[&str],
    kind: EventKind,
    payload: &Value,
    traceparent: Option<&str>,
) -> Result<Option<(Run, i64)>, StoreError> {
    let from: Vec<String> = from.iter().map(|s| (*s).to_owned()).collect();
    let row = tx
        .query_opt(
            &format!(
                "UPDATE runs SET status = 'QUEUED', cancel_requested = false, error = NULL,
                        finished_at = NULL, lease_until = NULL, worker_id = NULL,
                        max_attempts = GREATEST(max_attempts, attempt + 1),
                        updated_at = clock_timestamp()
                 WHERE id = $1 AND status = ANY($2)
                   AND NOT EXISTS (SELECT 1 FROM run_requests q
                                   WHERE q.run_id = runs.id AND q.status = 'PENDING'
                                     AND q.kind IN ('APPROVE', 'REJECT'))
                 RETURNING {COLUMNS}"
            ),
            &[&id, &from],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let run = Run::from_row(&row);
    insert_event(tx, id, kind, payload).await?;
    let outbox = tx
        .query_one(
            "INSERT INTO outbox (run_id, attempt, traceparent) VALUES ($1, $2, $3) RETURNING id",
            &[&id, &run.attempt, &traceparent],
        )
        .await?;
    Ok(Some((run, outbox.get(0))))
}

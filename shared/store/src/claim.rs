//! How a worker takes a run for an attempt, and keeps it: the guarded claim
//! (with RUN_STARTED in the same statement) and the lease renewal of the
//! heartbeat. A RUNNING run is held while both its own lease and its
//! worker's (`workers.lease_until`) last: the worker's, short, is renewed
//! with one row per heartbeat; the run's, long, only brings back a run its
//! live worker no longer holds. Runs of a project with a limit are admitted by
//! [`crate::admission`]. What the attempt then writes is in [`crate::attempt`].

use crate::StoreError;
use crate::admission::{self, ParkReason};
use crate::outbox::Pending;
use crate::projects::{self, Project};
use crate::runs::{self, Run};
use deadpool_postgres::{GenericClient, Pool};
use std::sync::LazyLock;
use uuid::Uuid;

/// What [`claim`] found.
#[derive(Debug, Clone)]
pub enum Claim {
    /// This worker now holds the run as `run.attempt`.
    Claimed {
        /// The run, as claimed.
        run: Box<Run>,
        /// Its project.
        project: Box<Project>,
        /// The run's follow-up messages, oldest first.
        messages: Vec<String>,
        /// Its project has a limit or a budget: its ending frees a slot
        /// that a parked run may take ([`admission::wake`]).
        limited: bool,
    },
    /// Its project has no free slot: the run waits parked, off the queue;
    /// drop the delivery. `woken`: parked runs that got a slot instead
    /// (better ranked), to publish.
    Parked {
        /// The rule that holds it back.
        reason: ParkReason,
        /// Outbox rows of the runs woken.
        woken: Vec<Pending>,
    },
    /// The run would have started over its project's token budget, whose
    /// `over_budget` is `"fail"`: it is FAILED now with this error; drop the
    /// delivery.
    OverBudget(String),
    /// The run is finished (or awaiting approval): drop the delivery.
    Finished,
    /// Another attempt holds a live lease: defer the delivery.
    LeaseLive,
    /// The run was cancelled before it could start again.
    Cancelled,
    /// No such run.
    NotFound,
}

/// The fast path's guard: the run's project has no limit, no fair share
/// and no budget (the others go through [`admission`]).
pub(crate) static FAST_PATH_GUARD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "AND NOT EXISTS (
                SELECT 1 FROM projects p WHERE p.id = runs.project_id
                  AND (COALESCE({own}, {share}) IS NOT NULL OR {budgeted}))",
        own = admission::OWN_LIMIT_SQL,
        share = admission::SHARE_SQL,
        budgeted = admission::BUDGETED_SQL,
    )
});

/// The run's worker is registered and its lease has run out (it crashed or
/// stopped): its RUNNING runs may be taken over, whatever their own lease.
pub(crate) const WORKER_GONE_SQL: &str = "EXISTS (
                SELECT 1 FROM workers w
                WHERE w.id = runs.worker_id AND w.lease_until < clock_timestamp())";

/// The run is claimable by a new attempt, as the claim statements test it:
/// waiting, or RUNNING with its own lease or its worker's run out.
pub(crate) static CLAIMABLE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "NOT cancel_requested
              AND (status IN ('QUEUED', 'RETRYING')
                   OR (status = 'RUNNING'
                       AND (lease_until < clock_timestamp() OR {WORKER_GONE_SQL})))"
    )
});

/// The columns the claim sets, as the claim statements write them.
pub(crate) const CLAIM_SET_SQL: &str = "status = 'RUNNING', attempt = attempt + 1, worker_id = $2,
                   lease_until = clock_timestamp() + make_interval(secs => $3),
                   started_at = COALESCE(started_at, clock_timestamp()),
                   parked_at = NULL, parked_reason = NULL, woken_at = NULL,
                   last_seq = last_seq + 1, updated_at = clock_timestamp()";

/// What the claim statements do with the runs they took (`r`, with `$2` the
/// worker's id): write RUN_STARTED, and read each run with its project and
/// follow-up messages, in [`Run::from_row_at`] and [`Project::from_row_at`]
/// order.
pub(crate) static CLAIMED_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "e AS (
            INSERT INTO events (run_id, seq, attempt, kind, payload)
            SELECT id, last_seq, attempt, 'RUN_STARTED',
                   jsonb_build_object('worker_id', $2::text, 'attempt', attempt)
            FROM r)
         SELECT {run_cols}, {project_cols},
                ARRAY(SELECT m.body FROM run_messages m WHERE m.run_id = r.id ORDER BY m.id)
         FROM r JOIN projects p ON p.id = r.project_id",
        run_cols = prefixed(runs::COLUMNS, "r"),
        project_cols = prefixed(projects::COLUMNS, "p"),
    )
});

/// The claim: one guarded update that also writes RUN_STARTED and reads the
/// run's project and follow-up messages. `guarded`: only when the run's
/// project has no limit and no budget; the others go through
/// [`admission`].
fn claim_sql(guarded: bool) -> String {
    let guard = if guarded {
        FAST_PATH_GUARD.as_str()
    } else {
        ""
    };
    format!(
        "WITH r AS (
            UPDATE runs SET {CLAIM_SET_SQL}
            WHERE id = $1 AND {claimable}
              {guard}
            RETURNING *),
         {claimed}",
        claimable = CLAIMABLE_SQL.as_str(),
        claimed = CLAIMED_SQL.as_str(),
    )
}

static CLAIM_SQL: LazyLock<String> = LazyLock::new(|| claim_sql(true));
static CLAIM_ADMITTED_SQL: LazyLock<String> = LazyLock::new(|| claim_sql(false));

/// Claims a run for a new attempt: QUEUED or RETRYING, or RUNNING with an
/// expired lease (its worker died). Writes RUN_STARTED in the same statement.
/// A run whose project has a limit is admitted (or parked) by
/// [`admission`].
pub async fn claim(
    pool: &Pool,
    run_id: Uuid,
    worker_id: &str,
    lease_s: f64,
) -> Result<Claim, StoreError> {
    let client = pool.get().await?;
    if let Some(claimed) = claim_in(&client, run_id, worker_id, lease_s, false).await? {
        return Ok(claimed);
    }
    match settle(&client, run_id).await? {
        Settled::Done(claim) => Ok(claim),
        Settled::Limited => {
            drop(client);
            admission::claim_limited(pool, run_id, worker_id, lease_s).await
        }
    }
}

/// The claim statement on `client`; `admitted`: the admission already let
/// the run start (so the limit guard is left out). `None` when the run is
/// not claimable (see [`settle`]).
pub(crate) async fn claim_in(
    client: &impl GenericClient,
    run_id: Uuid,
    worker_id: &str,
    lease_s: f64,
    admitted: bool,
) -> Result<Option<Claim>, StoreError> {
    let sql: &str = if admitted {
        &CLAIM_ADMITTED_SQL
    } else {
        &CLAIM_SQL
    };
    let statement = client.prepare_cached(sql).await?;
    let row = client
        .query_opt(&statement, &[&run_id, &worker_id, &lease_s])
        .await?;
    Ok(row.map(|row| Claim::Claimed {
        run: Box::new(Run::from_row_at(&row, 0)),
        project: Box::new(Project::from_row_at(&row, runs::COLUMN_COUNT)),
        messages: row.get(runs::COLUMN_COUNT + projects::COLUMN_COUNT),
        limited: admitted,
    }))
}

/// What a run the claim statement did not take is.
pub(crate) enum Settled {
    /// Nothing to start: the claim's answer.
    Done(Claim),
    /// Waiting, with a limit on its project: for the admission.
    Limited,
}

/// Why the claim statement did not take the run.
pub(crate) async fn settle(
    client: &impl GenericClient,
    run_id: Uuid,
) -> Result<Settled, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT status, cancel_requested,
                    lease_until > clock_timestamp() AND NOT {WORKER_GONE_SQL}
             FROM runs WHERE id = $1"
        )
    });
    let row = client.query_opt(SQL.as_str(), &[&run_id]).await?;
    let Some(row) = row else {
        return Ok(Settled::Done(Claim::NotFound));
    };
    let status: String = row.get(0);
    let cancel_requested: bool = row.get(1);
    let live: Option<bool> = row.get(2);
    Ok(Settled::Done(match status.as_str() {
        "RUNNING" if live == Some(true) => Claim::LeaseLive,
        "RUNNING" | "QUEUED" | "RETRYING" if cancel_requested => {
            finish_orphaned_cancel(client, run_id).await?;
            Claim::Cancelled
        }
        // Claimable but not by the fast path: its project has a limit or a
        // budget (a RUNNING run whose lease expired is taken over there too,
        // so that its ending wakes the project's parked runs).
        "QUEUED" | "RETRYING" => return Ok(Settled::Limited),
        "RUNNING" if live == Some(false) => return Ok(Settled::Limited),
        "RUNNING" => Claim::LeaseLive,
        _ => Claim::Finished,
    }))
}

pub(crate) fn prefixed(columns: &str, table: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{table}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ends a run whose cancel was requested but whose worker is gone.
async fn finish_orphaned_cancel(
    client: &impl GenericClient,
    run_id: Uuid,
) -> Result<(), StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH r AS (
                UPDATE runs SET status = 'CANCELLED', lease_until = NULL,
                       finished_at = clock_timestamp(), updated_at = clock_timestamp(),
                       last_seq = last_seq + 1
                WHERE id = $1 AND cancel_requested
                  AND status IN ('QUEUED', 'RETRYING', 'RUNNING')
                  AND (lease_until IS NULL OR lease_until < clock_timestamp()
                       OR {WORKER_GONE_SQL})
                RETURNING id, last_seq, attempt)
             INSERT INTO events (run_id, seq, attempt, kind, payload)
             SELECT id, last_seq, attempt, 'RUN_CANCELLED', '{{\"reason\": \"cancel requested\"}}' FROM r"
        )
    });
    client.execute(SQL.as_str(), &[&run_id]).await?;
    Ok(())
}

/// A run this worker holds, as seen by a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Run id.
    pub run_id: Uuid,
    /// Attempt.
    pub attempt: i32,
}

/// Result of renewing leases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renewal {
    /// Runs whose lease was extended and whose cancel was requested.
    pub cancel_requested: Vec<Uuid>,
    /// Runs this worker no longer holds (fenced out): stop them.
    pub lost: Vec<Uuid>,
}

/// Looks at the runs `worker_id` holds, in one statement: which it lost,
/// which had a cancel requested, and renews the run leases of those due —
/// the ones with less than half of `run_lease_s` left. Each run's row is so
/// written once per half run lease, not once per heartbeat: holding a run
/// costs PostgreSQL a read per heartbeat, while the worker's own lease
/// ([`crate::workers::heartbeat`]) says that its runs are alive.
pub async fn renew_leases(
    pool: &Pool,
    worker_id: &str,
    held: &[Held],
    run_lease_s: f64,
) -> Result<Renewal, StoreError> {
    if held.is_empty() {
        return Ok(Renewal::default());
    }
    let ids: Vec<Uuid> = held.iter().map(|h| h.run_id).collect();
    let attempts: Vec<i32> = held.iter().map(|h| h.attempt).collect();
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "WITH kept AS (
                SELECT r.id, r.attempt, r.cancel_requested,
                       r.lease_until < clock_timestamp() + make_interval(secs => $4::float8 / 2) AS due
                FROM runs r JOIN unnest($2::uuid[], $3::int[]) AS h(id, attempt)
                     ON r.id = h.id AND r.attempt = h.attempt
                WHERE r.status = 'RUNNING' AND r.worker_id = $1),
             renewed AS (
                UPDATE runs r SET lease_until = clock_timestamp() + make_interval(secs => $4::float8)
                FROM kept
                WHERE kept.due AND r.id = kept.id AND r.attempt = kept.attempt
                  AND r.status = 'RUNNING' AND r.worker_id = $1
                RETURNING r.id)
             SELECT id, cancel_requested FROM kept",
        )
        .await?;
    let rows = client
        .query(&statement, &[&worker_id, &ids, &attempts, &run_lease_s])
        .await?;
    let mut renewal = Renewal::default();
    let kept: std::collections::HashSet<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    renewal.cancel_requested = rows
        .iter()
        .filter(|r| r.get::<_, bool>(1))
        .map(|r| r.get(0))
        .collect();
    renewal.lost = ids.into_iter().filter(|id| !kept.contains(id)).collect();
    Ok(renewal)
}

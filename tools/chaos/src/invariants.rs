//! The verdict of a scenario, from SQL over its database and from the HTTP
//! answers the clients got:
//! - every accepted run reached exactly one terminal state, the one the
//!   scenario expects of it (lost: still QUEUED/RUNNING/RETRYING or missing);
//! - exactly one RUN_COMPLETED per completed run, none elsewhere, and one
//!   terminal event per run (duplicates otherwise);
//! - event `seq` dense from 1 and equal to `runs.last_seq`;
//! - no two attempts of a run overlapping in time (every event of attempt n
//!   before the first event of any later attempt);
//! - nothing QUEUED, RUNNING or RETRYING left in the database, and no run
//!   that no client was given (a retried submission doubled);
//! - no 5xx but 503, and 503 only inside an outage window; every request
//!   answered, except while the api process itself was down.

use crate::load::Answer;
use std::collections::HashMap;
use tokio_postgres::Client;
use uuid::Uuid;

/// What a scenario expects a run to end as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expect {
    /// COMPLETED.
    Completed,
    /// CANCELLED.
    Cancelled,
    /// FAILED.
    Failed,
}

impl Expect {
    fn status(self) -> &'static str {
        match self {
            Expect::Completed => "COMPLETED",
            Expect::Cancelled => "CANCELLED",
            Expect::Failed => "FAILED",
        }
    }
}

/// Counts and violations of one scenario.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Accepted runs.
    pub runs: usize,
    /// COMPLETED runs.
    pub completed: usize,
    /// FAILED runs.
    pub failed: usize,
    /// CANCELLED runs.
    pub cancelled: usize,
    /// Accepted runs not terminal (or missing).
    pub lost: usize,
    /// Runs with more than one terminal event.
    pub duplicates: usize,
    /// 503 answers (allowed inside outage windows).
    pub unavailable: usize,
    /// What went wrong, in words.
    pub violations: Vec<String>,
}

/// Checks the database and the answers; `outages` are the windows in which
/// 503s are expected.
pub async fn check(
    db: &Client,
    expected: &HashMap<Uuid, Expect>,
    answers: &[Answer],
    outages: &[(f64, f64)],
    api_down: &[(f64, f64)],
) -> anyhow::Result<Tally> {
    let mut tally = Tally {
        runs: expected.len(),
        ..Tally::default()
    };
    let ids: Vec<Uuid> = expected.keys().copied().collect();
    let rows = db
        .query("SELECT id, status FROM runs WHERE id = ANY($1)", &[&ids])
        .await?;
    let statuses: HashMap<Uuid, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut wrong: HashMap<(Expect, String), usize> = HashMap::new();
    for (id, expect) in expected {
        match statuses.get(id).map(String::as_str) {
            Some("COMPLETED") => tally.completed += 1,
            Some("FAILED") => tally.failed += 1,
            Some("CANCELLED") => tally.cancelled += 1,
            _ => tally.lost += 1,
        }
        if let Some(status) = statuses.get(id)
            && status != expect.status()
        {
            *wrong.entry((*expect, status.clone())).or_default() += 1;
        }
    }
    for ((expect, status), n) in wrong {
        tally.violations.push(format!(
            "{n} runs expected {} ended {status}",
            expect.status()
        ));
    }
    if tally.lost > 0 {
        tally
            .violations
            .push(format!("{} accepted runs never finished", tally.lost));
    }

    let row = db
        .query_one(
            "WITH t AS (
                SELECT r.id, r.status,
                       count(*) FILTER (WHERE e.kind = 'RUN_COMPLETED') AS completed,
                       count(*) FILTER (WHERE e.kind IN ('RUN_COMPLETED', 'RUN_FAILED', 'RUN_CANCELLED')) AS terminal
                FROM runs r LEFT JOIN events e ON e.run_id = r.id
                GROUP BY r.id, r.status)
             SELECT count(*) FILTER (WHERE terminal > 1),
                    count(*) FILTER (WHERE status = 'COMPLETED' AND completed <> 1),
                    count(*) FILTER (WHERE status <> 'COMPLETED' AND completed > 0)
             FROM t",
            &[],
        )
        .await?;
    let (multi, completed_wrong, completed_stray): (i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2));
    tally.duplicates = multi as usize;
    push_if(&mut tally, multi, "runs have more than one terminal event");
    push_if(
        &mut tally,
        completed_wrong,
        "COMPLETED runs lack exactly one RUN_COMPLETED",
    );
    push_if(
        &mut tally,
        completed_stray,
        "runs that did not complete have a RUN_COMPLETED",
    );

    let gaps: i64 = db
        .query_one(
            "SELECT count(*) FROM runs r JOIN (
                SELECT run_id, count(*) AS n, min(seq) AS lo, max(seq) AS hi
                FROM events GROUP BY run_id) e ON e.run_id = r.id
             WHERE e.lo <> 1 OR e.hi <> e.n OR r.last_seq <> e.hi",
            &[],
        )
        .await?
        .get(0);
    push_if(&mut tally, gaps, "runs have gaps in their event seq");

    let overlaps: i64 = db
        .query_one(
            "WITH a AS (
                SELECT run_id, attempt, min(created_at) AS first, max(created_at) AS last
                FROM events WHERE attempt > 0 GROUP BY run_id, attempt)
             SELECT count(DISTINCT a1.run_id) FROM a a1
             JOIN a a2 ON a2.run_id = a1.run_id AND a2.attempt > a1.attempt
             WHERE a1.last > a2.first",
            &[],
        )
        .await?
        .get(0);
    push_if(
        &mut tally,
        overlaps,
        "runs had two attempts running at the same time",
    );

    let open: i64 = db
        .query_one(
            "SELECT count(*) FROM runs WHERE status IN ('QUEUED', 'RUNNING', 'RETRYING')",
            &[],
        )
        .await?
        .get(0);
    push_if(&mut tally, open, "runs left QUEUED, RUNNING or RETRYING");

    // Clients retry with the same Idempotency-Key: a retried submission
    // must give back the run it created, never a second one.
    let unknown: i64 = db
        .query_one(
            "SELECT count(*) FROM runs WHERE NOT (id = ANY($1))",
            &[&ids],
        )
        .await?
        .get(0);
    push_if(
        &mut tally,
        unknown,
        "runs exist that no client was given (a submission doubled)",
    );

    let inside = |at: f64| outages.iter().any(|(from, to)| at >= *from && at <= *to);
    let api_was_down = |at: f64| api_down.iter().any(|(from, to)| at >= *from && at <= *to);
    let mut errors: HashMap<u16, usize> = HashMap::new();
    for answer in answers {
        match answer.status {
            503 if inside(answer.at) => tally.unavailable += 1,
            503 => *errors.entry(503).or_default() += 1,
            0 if api_was_down(answer.at) => {}
            0 => *errors.entry(0).or_default() += 1,
            s if s >= 500 => *errors.entry(s).or_default() += 1,
            _ => {}
        }
    }
    for (status, n) in errors {
        tally.violations.push(match status {
            0 => format!("{n} requests got no HTTP answer"),
            503 => format!("{n} answers were 503 outside an outage"),
            s => format!("{n} answers were {s}"),
        });
    }
    Ok(tally)
}

fn push_if(tally: &mut Tally, n: i64, what: &str) {
    if n > 0 {
        tally.violations.push(format!("{n} {what}"));
    }
}

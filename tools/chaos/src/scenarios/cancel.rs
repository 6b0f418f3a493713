//! Cancel 50 running runs at once, under load: each must end CANCELLED
//! within 2 s of its cancel request, with no RUN_COMPLETED. Workers
//! heartbeat only every 5 s here, so the 2 s are kept by the cancel NOTIFY,
//! not by a heartbeat that happens to come by.
//! Recovery: the slowest cancel, request to CANCELLED.

use super::{Infra, Outcome, Run};
use crate::invariants::Expect;
use crate::load;
use crate::system::Shape;
use futures_util::future::join_all;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// Runs cancelled.
const CANCELS: usize = 50;
/// Long runs started, so that at least `CANCELS` run at once.
const LONG: usize = 60;
/// The promise: a running run stops within this.
const CANCEL_LIMIT_S: f64 = 2.0;

pub async fn run(infra: &mut Infra, system: &str) -> anyhow::Result<Outcome> {
    let shape = Shape {
        workers: 3,
        concurrency: 24,
        crash_faults: false,
        slow_heartbeat: true,
    };
    let mut run = Run::begin(infra, system, shape).await?;
    let long = run
        .client
        .submit_many(LONG, 200.0, json!({"step_delay_ms": 3000}))
        .await;
    let load = run.load(infra.runs, 50.0);
    let running = wait_running(&run, &long).await?;
    let chosen: Vec<Uuid> = running.into_iter().take(CANCELS).collect();
    let asked = load::now();
    let answers = join_all(chosen.iter().map(|id| run.client.cancel(*id))).await;
    let refused = answers.iter().filter(|s| **s != 202 && **s != 200).count();
    let ids = load.await?;
    run.expect(ids, Expect::Completed);
    run.expect(long.iter().copied(), Expect::Completed);
    run.expect(chosen.iter().copied(), Expect::Cancelled);
    run.settle().await?;
    let db = run.sut.db().await?;
    let row = db
        .query_one(
            "SELECT count(*) FILTER (WHERE extract(epoch FROM finished_at)::float8 - $2 > $3),
                    max(extract(epoch FROM finished_at)::float8 - $2)
             FROM runs WHERE id = ANY($1)",
            &[&chosen, &asked, &CANCEL_LIMIT_S],
        )
        .await?;
    let (slow, slowest): (i64, Option<f64>) = (row.get(0), row.get(1));
    drop(db);
    let mut tally = run.verdict().await?;
    if chosen.len() < CANCELS {
        tally
            .violations
            .push(format!("only {} runs were RUNNING at once", chosen.len()));
    }
    if refused > 0 {
        tally
            .violations
            .push(format!("{refused} cancel requests were not accepted"));
    }
    if slow > 0 {
        tally.violations.push(format!(
            "{slow} cancels took longer than {CANCEL_LIMIT_S} s"
        ));
    }
    Ok(Outcome {
        name: "",
        tally,
        recovery_s: slowest,
        note: format!("{} running runs cancelled", chosen.len()),
    })
}

/// Waits (up to 30 s) until `CANCELS` of `ids` are RUNNING; returns those.
async fn wait_running(run: &Run, ids: &[Uuid]) -> anyhow::Result<Vec<Uuid>> {
    let mut running = Vec::new();
    for _ in 0..300 {
        let db = run.sut.db().await?;
        running = db
            .query(
                "SELECT id FROM runs WHERE id = ANY($1) AND status = 'RUNNING'",
                &[&ids],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if running.len() >= CANCELS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(running)
}

//! SIGKILL the busiest worker mid-load, twice, replacing each at once: its
//! runs come back through redelivery and lease expiry as new attempts.
//! Recovery: from a kill until the last run the killed worker held finished.

use super::{Infra, Outcome, Run};
use crate::invariants::Expect;
use crate::load;
use crate::system::Shape;
use std::time::Duration;

pub async fn run(infra: &mut Infra, system: &str) -> anyhow::Result<Outcome> {
    let mut run = Run::begin(infra, system, Shape::standard()).await?;
    let load = run.load(infra.runs, 50.0);
    let mut kills = Vec::new();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let at = load::now();
        let killed = run.sut.kill_busiest_worker().await?;
        run.sut.spawn_worker()?;
        kills.push((killed, at));
    }
    let ids = load.await?;
    run.expect(ids, Expect::Completed);
    run.settle().await?;
    let mut recovery: Option<f64> = None;
    let mut orphans = 0;
    for (worker, at) in &kills {
        let (n, seconds) = orphans_recovered(&run, worker, *at).await?;
        orphans += n;
        recovery = match (recovery, seconds) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let note = format!(
        "killed {}; {orphans} orphaned runs finished by other workers",
        kills
            .iter()
            .map(|(w, _)| w.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut tally = run.verdict().await?;
    if orphans == 0 {
        tally
            .violations
            .push("the kills orphaned no run: nothing was recovered".to_owned());
    }
    Ok(Outcome {
        name: "",
        tally,
        recovery_s: recovery,
        note,
    })
}

/// Runs `worker` was running when killed (a later attempt finished them),
/// and seconds from the kill until the last of them finished.
async fn orphans_recovered(
    run: &Run,
    worker: &str,
    killed_at: f64,
) -> anyhow::Result<(i64, Option<f64>)> {
    let db = run.sut.db().await?;
    let row = db
        .query_one(
            "WITH held AS (
                SELECT run_id, max(attempt) AS attempt FROM events
                WHERE kind = 'RUN_STARTED' AND payload->>'worker_id' = $1
                GROUP BY run_id)
             SELECT count(*), extract(epoch FROM max(r.finished_at))::float8
             FROM runs r JOIN held h ON h.run_id = r.id
             WHERE r.attempt > h.attempt",
            &[&worker],
        )
        .await?;
    let last: Option<f64> = row.get(1);
    Ok((row.get(0), last.map(|t| t - killed_at)))
}

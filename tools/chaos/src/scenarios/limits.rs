//! A project limited to [`LIMIT`] concurrent runs under load while a worker
//! is SIGKILLed, RabbitMQ is restarted and PostgreSQL crash-restarted: the
//! admission's parked runs must all complete (none left waiting for a wake
//! that was lost with a worker, a publish or a connection), and the project
//! must never have more than [`LIMIT`] RUNNING rows, sampled from the runs
//! table every 20 ms (samples cannot be taken while the database is down).
//! Recovery: from the database's restart until the last run finished.

use super::{Infra, Outcome, Run};
use crate::invariants::Expect;
use crate::load;
use crate::system::{Shape, connect};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use uuid::Uuid;

/// The project's `settings.max_concurrent_runs`.
const LIMIT: i64 = 4;

pub async fn run(infra: &mut Infra, system: &str) -> anyhow::Result<Outcome> {
    let mut run = Run::begin(infra, system, Shape::standard()).await?;
    run.sut
        .db()
        .await?
        .execute(
            "UPDATE projects SET settings = settings || jsonb_build_object('max_concurrent_runs', $2::int)
             WHERE id = $1",
            &[&run.sut.project, &(LIMIT as i32)],
        )
        .await?;
    let sampler = Sampler::start(run.sut.database_url.clone(), run.sut.project);
    let load = run.load(infra.runs, 50.0);

    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed = run.sut.kill_busiest_worker().await?;
    run.sut.spawn_worker()?;

    tokio::time::sleep(Duration::from_secs(2)).await;
    infra.mq.stop().await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    infra.mq.start().await?;
    run.broker_outage_until_ready().await;

    tokio::time::sleep(Duration::from_secs(1)).await;
    let down = load::now();
    infra.pg.stop("immediate").await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    infra.pg.start().await?;
    let back = load::now();
    run.outage_until_ready(down).await;

    let ids = load.await?;
    run.expect(ids.iter().copied(), Expect::Completed);
    run.settle().await?;
    let recovery = run.last_finish_of(&ids, back).await?;
    let (most, samples) = sampler.stop().await;
    let mut tally = run.verdict().await?;
    if most > LIMIT {
        tally.violations.push(format!(
            "the project's limit is {LIMIT}, yet {most} of its runs were RUNNING at once"
        ));
    }
    if most < LIMIT {
        tally.violations.push(format!(
            "the project never reached its limit of {LIMIT} (at most {most}): the limit was not tested"
        ));
    }
    Ok(Outcome {
        name: "",
        tally,
        recovery_s: recovery,
        note: format!(
            "limit {LIMIT}: at most {most} running in {samples} samples; killed {killed}, \
             broker restarted, database crash-restarted"
        ),
    })
}

/// Counts the project's RUNNING rows until stopped, riding out outages.
struct Sampler {
    stop: Arc<AtomicBool>,
    join: tokio::task::JoinHandle<(i64, u64)>,
}

impl Sampler {
    fn start(database_url: String, project: Uuid) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let most = Arc::new(AtomicI64::new(0));
        let join = tokio::spawn(async move {
            let mut samples = 0_u64;
            while !stopped.load(Ordering::Relaxed) {
                let Ok(db) = connect(&database_url).await else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                while !stopped.load(Ordering::Relaxed) {
                    let Ok(row) = db
                        .query_one(
                            "SELECT count(*) FROM runs WHERE project_id = $1 AND status = 'RUNNING'",
                            &[&project],
                        )
                        .await
                    else {
                        break;
                    };
                    most.fetch_max(row.get(0), Ordering::Relaxed);
                    samples += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            (most.load(Ordering::Relaxed), samples)
        });
        Self { stop, join }
    }

    async fn stop(self) -> (i64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.join.await.unwrap_or((i64::MAX, 0))
    }
}

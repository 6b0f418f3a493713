//! SIGTERM every worker mid-load: each stops consuming, finishes or hands
//! back what it holds and exits 0; new workers then take the rest.
//! Recovery: from the new workers' start until the first run completed.

use super::{Infra, Outcome, Run};
use crate::invariants::Expect;
use crate::load;
use crate::system::Shape;
use std::time::Duration;

/// Time SIGTERMed workers get to exit (their grace is 10 s).
const EXIT_LIMIT: Duration = Duration::from_secs(20);

pub async fn run(infra: &mut Infra, system: &str) -> anyhow::Result<Outcome> {
    let mut run = Run::begin(infra, system, Shape::standard()).await?;
    let load = run.load(infra.runs, 50.0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopping = load::now();
    let unclean = run.sut.terminate_workers(EXIT_LIMIT).await;
    let stopped_in = load::now() - stopping;
    for _ in 0..3 {
        run.sut.spawn_worker()?;
    }
    let back = load::now();
    let ids = load.await?;
    run.expect(ids, Expect::Completed);
    run.settle().await?;
    let recovery = run.first_completion_after(back).await?;
    let mut tally = run.verdict().await?;
    if !unclean.is_empty() {
        tally.violations.push(format!(
            "workers did not exit 0 on SIGTERM: {}",
            unclean.join(", ")
        ));
    }
    Ok(Outcome {
        name: "",
        tally,
        recovery_s: recovery,
        note: format!("3 workers stopped in {stopped_in:.1} s"),
    })
}

//! Restart the api mid-load, twice: once with SIGTERM (it drains in-flight
//! requests and must exit 0), once with SIGKILL (a crash: a run committed
//! with its outbox row but not yet published is published by the next api's
//! relay). Clients retry refused connections with the same
//! `Idempotency-Key`, so a submission cut off mid-request is neither lost
//! nor doubled.
//! Recovery: from the second api's start until the first run completed.

use super::{Infra, OUTAGE_SLACK_S, Outcome, Run};
use crate::invariants::Expect;
use crate::load;
use crate::system::Shape;
use std::time::Duration;

/// Time a SIGTERMed api gets to exit (its grace is 10 s).
const EXIT_LIMIT: Duration = Duration::from_secs(20);
/// How long the address stays closed between two apis.
const DOWN_FOR: Duration = Duration::from_secs(2);

pub async fn run(infra: &mut Infra, system: &str) -> anyhow::Result<Outcome> {
    let mut run = Run::begin(infra, system, Shape::standard()).await?;
    let load = run.load(infra.runs, 50.0);

    tokio::time::sleep(Duration::from_secs(2)).await;
    let terminated_at = load::now();
    let terminated = run.sut.restart_api(false, EXIT_LIMIT, DOWN_FOR).await?;
    run.api_down
        .push((terminated_at, load::now() + OUTAGE_SLACK_S));
    run.outage_until_ready(terminated_at).await;

    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = load::now();
    run.sut.restart_api(true, EXIT_LIMIT, DOWN_FOR).await?;
    let back = load::now();
    run.api_down.push((killed_at, back + OUTAGE_SLACK_S));
    run.outage_until_ready(killed_at).await;

    let ids = load.await?;
    run.expect(ids, Expect::Completed);
    run.settle().await?;
    let recovery = run.first_completion_after(back).await?;
    let refused = run.refused();
    let mut tally = run.verdict().await?;
    if !terminated.is_some_and(|status| status.success()) {
        tally.violations.push(format!(
            "the api did not exit 0 within {EXIT_LIMIT:?} of SIGTERM ({terminated:?})"
        ));
    }
    Ok(Outcome {
        name: "",
        tally,
        recovery_s: recovery,
        note: format!(
            "api SIGTERMed (drained, exit 0) then SIGKILLed, each down {:.0} s; \
             {refused} requests refused meanwhile, retried by the clients",
            DOWN_FOR.as_secs_f64()
        ),
    })
}

//! Outages of a dependency: RabbitMQ stopped for 10 s mid-load, PostgreSQL
//! crashed (`pg_ctl -m immediate`) for 5 s mid-load, and runs submitted
//! while RabbitMQ is stopped. 503s are expected from a database fault until
//! the api is ready again, and none from a broker fault (the api keeps
//! accepting runs into the outbox); every submission must be accepted and
//! every accepted run must complete.
//! Recovery: from the dependency's restart until the first run completed
//! (for submissions during the outage: until the last of them completed).

use super::{Infra, Outcome, Run};
use crate::invariants::Expect;
use crate::load;
use crate::system::Shape;
use std::time::Duration;

/// The dependency a scenario restarts.
#[derive(Debug, Clone, Copy)]
enum Dependency {
    RabbitMq,
    Postgres,
}

pub async fn rabbitmq_restart(infra: &mut Infra, system: &str) -> anyhow::Result<Outcome> {
    restart_mid_load(infra, system, Dependency::RabbitMq).await
}

pub async fn postgres_restart(infra: &mut Infra, system: &str) -> anyhow::Result<Outcome> {
    restart_mid_load(infra, system, Dependency::Postgres).await
}

/// Stops `dependency` 2 s into the load (RabbitMQ cleanly for 10 s,
/// PostgreSQL with a crash stop for 5 s), starts it again and lets the load
/// finish.
async fn restart_mid_load(
    infra: &mut Infra,
    system: &str,
    dependency: Dependency,
) -> anyhow::Result<Outcome> {
    let mut run = Run::begin(infra, system, Shape::standard()).await?;
    let load = run.load(infra.runs, 50.0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let down = load::now();
    match dependency {
        Dependency::RabbitMq => {
            infra.mq.stop().await?;
            tokio::time::sleep(Duration::from_secs(10)).await;
            infra.mq.start().await?;
        }
        Dependency::Postgres => {
            infra.pg.stop("immediate").await?;
            tokio::time::sleep(Duration::from_secs(5)).await;
            infra.pg.start().await?;
        }
    }
    let back = load::now();
    match dependency {
        Dependency::RabbitMq => run.broker_outage_until_ready().await,
        Dependency::Postgres => run.outage_until_ready(down).await,
    }
    let ids = load.await?;
    run.expect(ids, Expect::Completed);
    run.settle().await?;
    let recovery = run.first_completion_after(back).await?;
    let note = match dependency {
        Dependency::RabbitMq => format!("broker down {:.1} s", back - down),
        Dependency::Postgres => format!("database down {:.1} s (crash stop)", back - down),
    };
    Ok(Outcome {
        name: "",
        tally: run.verdict().await?,
        recovery_s: recovery,
        note,
    })
}

pub async fn submit_while_rabbitmq_down(
    infra: &mut Infra,
    system: &str,
) -> anyhow::Result<Outcome> {
    let mut run = Run::begin(infra, system, Shape::standard()).await?;
    let down = load::now();
    infra.mq.stop().await?;
    let ids = run
        .client
        .submit_many(infra.runs, 100.0, super::quick())
        .await;
    let accepted = ids.len();
    let waited = load::now() - down;
    if waited < 5.0 {
        tokio::time::sleep(Duration::from_secs_f64(5.0 - waited)).await;
    }
    infra.mq.start().await?;
    let back = load::now();
    run.broker_outage_until_ready().await;
    run.expect(ids.iter().copied(), Expect::Completed);
    run.settle().await?;
    let recovery = run.last_finish_of(&ids, back).await?;
    Ok(Outcome {
        name: "",
        tally: run.verdict().await?,
        recovery_s: recovery,
        note: format!(
            "{accepted} runs accepted while the broker was down for {:.1} s",
            back - down
        ),
    })
}

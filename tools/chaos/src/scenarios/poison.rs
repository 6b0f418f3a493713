//! A poison run: `fail: "crash"` aborts every worker process that runs it
//! (crash faults are on in this scenario). Dead workers are replaced, as a
//! deployment would. The run must end FAILED once it has used its attempts,
//! its message must be in the dead-letter queue, and the rest of the load
//! must complete. Recovery: from the poison's submission until it FAILED.

use super::{Infra, Outcome, Run};
use crate::invariants::Expect;
use crate::load;
use crate::system::Shape;
use agent_runner_queue::lapin::options::BasicGetOptions;
use agent_runner_queue::{BrokerAddress, connect};
use serde_json::json;
use std::time::Duration;

/// Attempts the poison run may take (so this many workers die).
const POISON_ATTEMPTS: u32 = 2;

pub async fn run(infra: &mut Infra, system: &str) -> anyhow::Result<Outcome> {
    let shape = Shape {
        crash_faults: true,
        ..Shape::standard()
    };
    let mut run = Run::begin(infra, system, shape).await?;
    let load = run.load(infra.runs, 50.0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let submitted = load::now();
    let poison = run
        .client
        .submit(
            json!({"step_delay_ms": 100, "fail": "crash"}),
            Some(POISON_ATTEMPTS),
        )
        .await;
    let ids = run.supervise(load).await?;
    run.expect(ids, Expect::Completed);
    run.expect(poison, Expect::Failed);
    run.settle().await?;
    let recovery = match poison {
        Some(id) => run.last_finish_of(&[id], submitted).await?,
        None => None,
    };
    let dead = dead_lettered(&infra.mq.amqp_url(), &format!("{system}.dead")).await?;
    let replaced = run.sut.replaced;
    let mut tally = run.verdict().await?;
    match poison {
        None => tally
            .violations
            .push("the poison run was not accepted".into()),
        Some(id) if !dead.contains(&id.to_string()) => tally
            .violations
            .push("the poison message is not in the dead-letter queue".into()),
        Some(_) => {}
    }
    if replaced < POISON_ATTEMPTS {
        tally.violations.push(format!(
            "the poison crashed {replaced} workers, expected {POISON_ATTEMPTS}"
        ));
    }
    Ok(Outcome {
        name: "",
        tally,
        recovery_s: recovery,
        note: format!(
            "{replaced} workers crashed and were replaced; {} dead letters",
            dead.len()
        ),
    })
}

/// The `message_id`s of the messages in `queue` (taken and acked).
async fn dead_lettered(amqp_url: &str, queue: &str) -> anyhow::Result<Vec<String>> {
    let connection =
        connect::connect(&BrokerAddress::plain(amqp_url), "chaos-dead-letters").await?;
    let channel = connection.create_channel().await?;
    let mut ids = Vec::new();
    while let Some(message) = channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await?
    {
        if let Some(id) = message.delivery.properties.message_id() {
            ids.push(id.to_string());
        }
    }
    let _closed = connection.close(200, "done".into()).await;
    Ok(ids)
}

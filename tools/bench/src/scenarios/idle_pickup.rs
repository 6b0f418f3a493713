//! idle-pickup: one run at a time on an otherwise idle system (submit, wait
//! until it is terminal, pause, next), so `started_at − created_at` is the
//! pure hand-off latency from the api through RabbitMQ to a worker's claim.

use super::in_fresh_env;
use crate::api::Api;
use crate::args::Args;
use crate::environment::BenchEnv;
use crate::poll;
use crate::report::{IdlePickup, Meta};
use crate::stats::Summary;
use std::time::{Duration, Instant};

/// Pause between runs, so each one meets an idle system.
const PAUSE: Duration = Duration::from_millis(200);

/// Runs the scenario in a fresh environment.
pub async fn run(args: &Args, meta: Meta) -> anyhow::Result<IdlePickup> {
    in_fresh_env(args, async |env: &mut BenchEnv| {
        measure(env, args, meta).await
    })
    .await
}

async fn measure(env: &mut BenchEnv, args: &Args, meta: Meta) -> anyhow::Result<IdlePickup> {
    let runs = args.runs();
    env.start_api().await?;
    env.start_workers(args.workers(), args.concurrency())
        .await?;
    let api = Api::new(&env.base, &env.token)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    eprintln!("bench: {runs} runs, one at a time");
    let mut submit_ms = Vec::new();
    for _ in 0..runs {
        let sent = Instant::now();
        let id = api.submit_run(env.project_id, 0).await?;
        submit_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
        poll::wait_run_terminal(&env.db, id, &mut env.fleet).await?;
        tokio::time::sleep(PAUSE).await;
    }
    poll::verify(&env.db, runs).await?;
    let timings = poll::timings(&env.db).await?;
    Ok(IdlePickup {
        scenario: "idle-pickup",
        runs,
        workers: args.workers(),
        concurrency: args.concurrency(),
        pickup_ms: Summary::of(&timings.pickup_ms).into(),
        latency_ms: Summary::of(&timings.latency_ms).into(),
        submit_ms: Summary::of(&submit_ms).into(),
        meta,
    })
}

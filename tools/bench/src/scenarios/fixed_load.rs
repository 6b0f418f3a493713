//! fixed-load: runs arriving at a fixed rate (open loop, `--rate` a second
//! for `--duration-s`), well below what the system can do, so
//! `finished_at − created_at` is the cost of one run on a system that is not
//! overloaded rather than time spent queueing. The figure that shows whether
//! a batching window ever holds a run back.

use super::in_fresh_env;
use crate::api::Api;
use crate::args::Args;
use crate::environment::BenchEnv;
use crate::open_loop;
use crate::poll;
use crate::report::{FixedLoad, Meta};
use crate::stats::Summary;
use anyhow::bail;
use std::time::Duration;

/// Runs the scenario in a fresh environment.
pub async fn run(args: &Args, meta: Meta) -> anyhow::Result<FixedLoad> {
    in_fresh_env(args, async |env: &mut BenchEnv| {
        measure(env, args, meta).await
    })
    .await
}

async fn measure(env: &mut BenchEnv, args: &Args, meta: Meta) -> anyhow::Result<FixedLoad> {
    env.start_api().await?;
    env.start_workers(args.workers(), args.concurrency())
        .await?;
    let api = Api::new(&env.base, &env.token)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    eprintln!(
        "bench: {} runs/s for {} s, open loop",
        args.rate, args.duration_s
    );
    let arrivals = open_loop::submit(
        &api,
        env.project_id,
        0,
        args.rate,
        Duration::from_secs(args.duration_s),
    )
    .await;
    if arrivals.failures > 0 {
        bail!(
            "{} submissions failed; first: {}",
            arrivals.failures,
            arrivals
                .first_failure
                .as_deref()
                .unwrap_or("(none recorded)")
        );
    }
    let runs = arrivals.ids.len() as u64;
    poll::wait_terminal(&env.db, runs, &mut env.fleet).await?;
    poll::verify(&env.db, runs).await?;
    let timings = poll::timings(&env.db).await?;
    Ok(FixedLoad {
        scenario: "fixed-load",
        rate: args.rate,
        duration_s: args.duration_s,
        runs,
        workers: args.workers(),
        concurrency: args.concurrency(),
        pickup_ms: Summary::of(&timings.pickup_ms).into(),
        latency_ms: Summary::of(&timings.latency_ms).into(),
        meta,
    })
}

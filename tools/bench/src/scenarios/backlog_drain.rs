//! backlog-drain: the api alone accepts N runs (they queue up in RabbitMQ),
//! then W workers start and drain the queue; the drain rate is N over the
//! time from the first `started_at` to the last `finished_at`.

use super::{ensure_all_accepted, in_fresh_env};
use crate::args::Args;
use crate::cpu::Sampler;
use crate::environment::BenchEnv;
use crate::load::{self, Batch};
use crate::pg_work::Probe;
use crate::poll;
use crate::report::{BacklogDrain, Cpu, Meta, Rss};
use crate::stats::round;
use anyhow::{Context, bail};
use std::time::{Duration, Instant};

/// Runs the scenario in a fresh environment.
pub async fn run(args: &Args, meta: Meta) -> anyhow::Result<BacklogDrain> {
    in_fresh_env(args, async |env: &mut BenchEnv| {
        measure(env, args, meta).await
    })
    .await
}

async fn measure(env: &mut BenchEnv, args: &Args, meta: Meta) -> anyhow::Result<BacklogDrain> {
    let runs = args.runs();
    env.start_api().await?;
    eprintln!("bench: submitting {runs} runs with no worker running");
    // PostgreSQL's work per run covers the runs' whole life, submission included;
    // this sampler gives the postgres CPU over the same window.
    let probe = Probe::start(&env.db).await?;
    let whole_life = Sampler::start(env.roles());
    let load = load::submit(
        &env.base,
        &env.token,
        Batch::lifecycle_5(env.project_id, runs),
        args.connections,
        false,
    )
    .await?;
    ensure_all_accepted(&load, runs)?;
    wait_outbox_sent(env).await?;
    eprintln!(
        "bench: {runs} runs queued in {:.1}s; starting {} worker(s)",
        load.wall.as_secs_f64(),
        args.workers()
    );
    env.start_workers(args.workers(), args.concurrency())
        .await?;
    // Started once the workers have pids, so their CPU is attributed to them.
    let sampler = Sampler::start(env.roles());
    poll::wait_terminal(&env.db, runs, &mut env.fleet).await?;
    let cpu = sampler.finish().await;
    let whole_life_cpu = whole_life.finish().await;
    let (api_rss, worker_rss) = env.rss_mb();
    // Stopped here so that their backends flush the statistics the probe reads.
    env.fleet.stop_all().await;
    let pg = probe.finish(&env.db, runs, &whole_life_cpu).await?;
    poll::verify(&env.db, runs).await?;
    let timings = poll::timings(&env.db).await?;
    Ok(BacklogDrain {
        scenario: "backlog-drain",
        runs,
        connections: args.connections,
        workers: args.workers(),
        concurrency: args.concurrency(),
        submit_rps: round(load.submit_rps(), 1),
        drain_runs_per_s: round(runs as f64 / timings.started_to_finished_s.max(1e-9), 1),
        drain_s: round(timings.started_to_finished_s, 2),
        rss_mb: Rss::new(api_rss, &worker_rss),
        cpu: Cpu::from(&cpu),
        pg,
        meta,
    })
}

/// Waits until every job is published (the outbox has no unsent row), so
/// the drain measures consumption, not the relay.
async fn wait_outbox_sent(env: &BenchEnv) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let unsent: i64 = env
            .db
            .query_one("SELECT count(*) FROM outbox WHERE sent_at IS NULL", &[])
            .await
            .context("cannot count unsent outbox rows")?
            .get(0);
        if unsent == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{unsent} jobs are still unpublished in the outbox after 120s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

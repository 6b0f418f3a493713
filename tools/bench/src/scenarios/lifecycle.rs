//! lifecycle-5, the reference workload: the api and W workers run, N runs
//! are submitted through C connections while random runs are read back, and
//! once every run is terminal each one is verified and the figures are read
//! from its timestamps.

use super::{ensure_all_accepted, in_fresh_env};
use crate::args::Args;
use crate::cpu::Sampler;
use crate::environment::BenchEnv;
use crate::load::{self, Batch};
use crate::pg_work::Probe;
use crate::poll;
use crate::report::{Cpu, Lifecycle, Meta, Rss};
use crate::stats::{Summary, round};

/// Runs lifecycle-5 with `runs` runs and `workers` workers in a fresh environment.
pub async fn run(args: &Args, runs: u64, workers: u32, meta: Meta) -> anyhow::Result<Lifecycle> {
    in_fresh_env(args, async |env: &mut BenchEnv| {
        measure(env, args, runs, workers, meta).await
    })
    .await
}

async fn measure(
    env: &mut BenchEnv,
    args: &Args,
    runs: u64,
    workers: u32,
    meta: Meta,
) -> anyhow::Result<Lifecycle> {
    env.start_api().await?;
    env.start_workers(workers, args.concurrency()).await?;
    eprintln!(
        "bench: submitting {runs} runs through {} connections to {} worker(s)",
        args.connections, workers
    );
    let probe = Probe::start(&env.db).await?;
    let sampler = Sampler::start(env.roles());
    let load = load::submit(
        &env.base,
        &env.token,
        Batch::lifecycle_5(env.project_id, runs),
        args.connections,
        true,
    )
    .await?;
    ensure_all_accepted(&load, runs)?;
    if load.read_failures > 0 {
        anyhow::bail!("{} of the reads during the load failed", load.read_failures);
    }
    eprintln!(
        "bench: submitted in {:.1}s; waiting for every run to finish",
        load.wall.as_secs_f64()
    );
    poll::wait_terminal(&env.db, runs, &mut env.fleet).await?;
    let cpu = sampler.finish().await;
    let (api_rss, worker_rss) = env.rss_mb();
    // Stopped here so that their backends flush the statistics the probe reads.
    env.fleet.stop_all().await;
    let pg = probe.finish(&env.db, runs, &cpu).await?;
    poll::verify(&env.db, runs).await?;
    let timings = poll::timings(&env.db).await?;
    Ok(Lifecycle {
        scenario: "lifecycle-5",
        runs,
        connections: args.connections,
        workers,
        concurrency: args.concurrency(),
        submit_rps: round(load.submit_rps(), 1),
        e2e_runs_per_s: round(runs as f64 / timings.created_to_finished_s.max(1e-9), 1),
        latency_ms: Summary::of(&timings.latency_ms).into(),
        pickup_ms: Summary::of(&timings.pickup_ms).into(),
        read_ms: load.read_ms.into(),
        submit_ms: load.submit_ms.into(),
        rss_mb: Rss::new(api_rss, &worker_rss),
        client_cpu_share: round(load.client_cpu_share, 3),
        client_cpu_s: round(load.client_cpu_s, 2),
        submit_machine_busy: round(load.machine_busy, 2),
        cpu: Cpu::from(&cpu),
        pg,
        meta,
    })
}

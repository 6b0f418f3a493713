//! fairness: a big project's backlog and a small project's few runs. The big
//! project's N runs are submitted through C connections; right after the last
//! of them is accepted (so the whole backlog is queued ahead), the small
//! project's runs are. Every run is the simulated agent with a step delay,
//! so it holds its worker slot a while. Each variant ([`FairnessVariant`])
//! runs in its own fresh environment; the figures are each project's
//! latency (submit → COMPLETED) and the throughput of the whole.

use super::{ensure_all_accepted, in_fresh_env};
use crate::api::Api;
use crate::args::{Args, FairnessVariant};
use crate::cpu::Sampler;
use crate::environment::BenchEnv;
use crate::load::{self, Batch};
use crate::poll;
use crate::report::{Cpu, Fairness, FairnessRun, Meta, ProjectFigures};
use crate::stats::{Summary, round};
use serde_json::json;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Runs every variant `--variants` names, one after the other.
pub async fn run(args: &Args, meta: Meta) -> anyhow::Result<Fairness> {
    let mut variants = Vec::new();
    for &variant in &args.variants {
        eprintln!("bench: fairness variant {}", variant.as_str());
        let figures = in_fresh_env(args, async |env: &mut BenchEnv| {
            measure(env, args, variant).await
        })
        .await?;
        eprintln!(
            "bench: {}: small p50 {:.0} ms, big p50 {:.0} ms, {:.1} runs/s e2e",
            variant.as_str(),
            figures.small.latency_ms.p50,
            figures.big.latency_ms.p50,
            figures.e2e_runs_per_s
        );
        variants.push(figures);
    }
    let by_variant = |f: fn(&FairnessRun) -> f64| -> BTreeMap<&'static str, f64> {
        variants.iter().map(|v| (v.variant, f(v))).collect()
    };
    Ok(Fairness {
        scenario: "fairness",
        big_runs: args.runs(),
        small_runs: args.small_runs,
        connections: args.connections,
        workers: args.workers(),
        concurrency: args.concurrency(),
        step_delay_ms: args.step_delay_ms,
        small_latency_p50_ms: by_variant(|v| v.small.latency_ms.p50),
        e2e_runs_per_s: by_variant(|v| v.e2e_runs_per_s),
        variants,
        meta,
    })
}

/// The big project's limit in the big-limit variant: half the worker slots.
fn big_limit(args: &Args) -> u32 {
    (args.workers() * u32::from(args.concurrency()) / 2).max(1)
}

async fn measure(
    env: &mut BenchEnv,
    args: &Args,
    variant: FairnessVariant,
) -> anyhow::Result<FairnessRun> {
    let fair_share = variant != FairnessVariant::Fifo;
    if !fair_share {
        env.launcher
            .env
            .push(("FAIR_SHARE".to_owned(), "false".to_owned()));
    }
    let big_max = (variant == FairnessVariant::BigLimit).then(|| big_limit(args));
    env.start_api().await?;
    let api = Api::new(&env.base, &env.token)?;
    let big_settings = big_max.map(|n| json!({"max_concurrent_runs": n}));
    let big = api
        .create_project(&format!("{}-big", env.name), big_settings.as_ref())
        .await?;
    let small = api
        .create_project(&format!("{}-small", env.name), None)
        .await?;
    env.start_workers(args.workers(), args.concurrency())
        .await?;
    let (big_runs, small_runs) = (args.runs(), args.small_runs);
    eprintln!(
        "bench: submitting {big_runs} runs of the big project, then {small_runs} of the small one"
    );
    let sampler = Sampler::start(env.roles());
    let batch = |project_id: Uuid, runs: u64| Batch {
        project_id,
        runs,
        step_delay_ms: args.step_delay_ms,
    };
    let big_load = load::submit(
        &env.base,
        &env.token,
        batch(big, big_runs),
        args.connections,
        false,
    )
    .await?;
    ensure_all_accepted(&big_load, big_runs)?;
    let small_load = load::submit(
        &env.base,
        &env.token,
        batch(small, small_runs),
        args.connections,
        false,
    )
    .await?;
    ensure_all_accepted(&small_load, small_runs)?;
    let total = big_runs + small_runs;
    poll::wait_terminal(&env.db, total, &mut env.fleet).await?;
    let cpu = sampler.finish().await;
    poll::verify(&env.db, total).await?;
    let all = poll::timings(&env.db).await?;
    Ok(FairnessRun {
        variant: variant.as_str(),
        fair_share,
        big_max_concurrent_runs: big_max,
        big_submit_rps: round(big_load.submit_rps(), 1),
        e2e_runs_per_s: round(total as f64 / all.created_to_finished_s.max(1e-9), 1),
        small: project_figures(env, small).await?,
        big: project_figures(env, big).await?,
        big_left_when_small_done: poll::finished_after_last_of(&env.db, big, small).await?,
        cpu: Cpu::from(&cpu),
    })
}

async fn project_figures(env: &BenchEnv, project: Uuid) -> anyhow::Result<ProjectFigures> {
    let t = poll::timings_of(&env.db, Some(project)).await?;
    Ok(ProjectFigures {
        runs: t.latency_ms.len() as u64,
        latency_ms: Summary::of(&t.latency_ms).into(),
        pickup_ms: Summary::of(&t.pickup_ms).into(),
        done_after_s: round(t.created_to_finished_s, 2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_big_limit_is_half_the_worker_slots() {
        let args = Args::parse_from(["agent-runner-bench", "--scenario", "fairness"]);
        assert_eq!(big_limit(&args), 8);
        let args = Args::parse_from(["agent-runner-bench", "--workers", "1", "--concurrency", "1"]);
        assert_eq!(big_limit(&args), 1);
    }
}

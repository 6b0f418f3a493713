//! scale-out: lifecycle-5 at each of `--worker-steps` (1, 2, 4), each step in
//! its own fresh environment, with e2e runs/s relative to the first step and
//! the CPU attribution that says which resource saturates.

use super::lifecycle;
use crate::args::Args;
use crate::report::{Meta, ScaleOut};
use crate::stats::round;
use std::collections::BTreeMap;

/// Runs every step and compares them.
pub async fn run(args: &Args, meta: Meta) -> anyhow::Result<ScaleOut> {
    let runs = args.runs();
    let mut steps = Vec::new();
    for &workers in &args.worker_steps {
        eprintln!("bench: scale-out step with {workers} worker(s)");
        let step = lifecycle::run(args, runs, workers, meta.clone()).await?;
        eprintln!(
            "bench: {workers} worker(s): {:.1} runs/s e2e; {}",
            step.e2e_runs_per_s, step.cpu.saturated
        );
        steps.push(step);
    }
    let e2e: BTreeMap<u32, f64> = steps
        .iter()
        .map(|s| (s.workers, s.e2e_runs_per_s))
        .collect();
    let base = steps.first().map_or(1.0, |s| s.e2e_runs_per_s.max(1e-9));
    let ratio_to_first = steps
        .iter()
        .map(|s| (s.workers, round(s.e2e_runs_per_s / base, 2)))
        .collect();
    Ok(ScaleOut {
        scenario: "scale-out",
        runs,
        connections: args.connections,
        concurrency: args.concurrency(),
        e2e_runs_per_s: e2e,
        ratio_to_first,
        steps,
        meta,
    })
}

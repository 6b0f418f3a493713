//! The workloads. Each builds its own [`BenchEnv`](crate::environment::BenchEnv)
//! (or several, for scale-out and fairness), runs inside [`guarded`] so that an error or
//! a signal still reaches the teardown, and returns a [`Report`].

mod backlog_drain;
mod fairness;
mod fixed_load;
mod idle_pickup;
mod lifecycle;
mod long_runs;
mod scale_out;

use crate::args::{Args, Scenario};
use crate::environment::BenchEnv;
use crate::load::LoadOutcome;
use crate::report::{Meta, Report};
use anyhow::bail;
use std::future::Future;

/// Runs the scenario `args` asks for.
pub async fn run(args: &Args) -> anyhow::Result<Report> {
    let meta = meta(args);
    Ok(match args.scenario {
        Scenario::Lifecycle5 => {
            Report::Lifecycle(lifecycle::run(args, args.runs(), args.workers(), meta).await?)
        }
        Scenario::ScaleOut => Report::ScaleOut(scale_out::run(args, meta).await?),
        Scenario::IdlePickup => Report::IdlePickup(idle_pickup::run(args, meta).await?),
        Scenario::BacklogDrain => Report::BacklogDrain(backlog_drain::run(args, meta).await?),
        Scenario::Fairness => Report::Fairness(fairness::run(args, meta).await?),
        Scenario::LongRuns => Report::LongRuns(Box::new(long_runs::run(args, meta).await?)),
        Scenario::FixedLoad => Report::FixedLoad(fixed_load::run(args, meta).await?),
    })
}

/// Runs `work` in a fresh environment and always tears it down afterwards,
/// also when `work` fails or SIGINT/SIGTERM arrives.
async fn in_fresh_env<T>(
    args: &Args,
    work: impl AsyncFnOnce(&mut BenchEnv) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut env = BenchEnv::create(args).await?;
    eprintln!(
        "bench: environment {} (logs in {})",
        env.name,
        args.log_dir.display()
    );
    let outcome = guarded(work(&mut env)).await;
    env.teardown().await;
    outcome
}

/// `work`, or an error as soon as SIGINT or SIGTERM arrives.
async fn guarded<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        outcome = work => outcome,
        _ = term.recv() => bail!("interrupted by SIGTERM"),
        _ = int.recv() => bail!("interrupted by SIGINT"),
    }
}

/// Fails unless every submission was accepted.
fn ensure_all_accepted(load: &LoadOutcome, runs: u64) -> anyhow::Result<()> {
    if load.failures > 0 || load.ids.len() as u64 != runs {
        bail!(
            "{} of {runs} submissions failed; first: {}",
            load.failures,
            load.first_failure.as_deref().unwrap_or("(none recorded)")
        );
    }
    Ok(())
}

fn meta(args: &Args) -> Meta {
    Meta {
        git_rev: git_rev(),
        bin_dir: args.bin_dir.display().to_string(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

fn git_rev() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(rev) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".to_owned();
    };
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if !changes.is_empty() => format!("{rev}-dirty"),
        _ => rev,
    }
}

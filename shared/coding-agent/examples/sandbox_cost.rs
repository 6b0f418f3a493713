//! The per-command cost of the sandbox: p50 and p99 of spawning `true` and
//! waiting for it, without the sandbox (`AGENT_SANDBOX=off`) and with the
//! strongest one this machine sets up.
//!
//! `cargo run --release -p agent-runner-coding-agent --example sandbox_cost -- [N]`
//! (build `--bins` first, so that `agent-runner-sandbox` is next to it).

use agent_runner_coding_agent::sandbox::{Job, Sandbox, SandboxConfig, SandboxMode};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(200), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    for mode in [SandboxMode::Off, SandboxMode::Auto] {
        let sandbox = Sandbox::new(SandboxConfig {
            mode,
            ..SandboxConfig::default()
        });
        let level = sandbox.level().await.to_string();
        let job = Job {
            worktree: dir.path(),
            git_dir: None,
            cmd: "true",
            env: &[],
            network_open: false,
        };
        let mut times: Vec<Duration> = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            let mut prepared = sandbox.command(&job).await?;
            let status = prepared.command.status().await?;
            drop(prepared.leftovers);
            times.push(started.elapsed());
            assert!(status.success(), "`true` failed under {level}");
        }
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!(
            "{{\"sandbox\": \"{level}\", \"runs\": {n}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}}}",
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3
        );
    }
    Ok(())
}

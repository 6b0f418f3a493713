//! `agent-runner-worker`: parse the command line and config, set up logging,
//! register the agents and hand over to the library.

use agent_runner_config::Env;
use agent_runner_worker::{Worker, WorkerConfig, agents};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The agent-runner worker.
#[derive(Debug, Parser)]
#[command(name = "agent-runner-worker", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume and execute runs (the default).
    Run,
    /// Exit 0 when the worker's probe port answers /healthz.
    Healthcheck,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    agent_runner_lifecycle::run_main(
        "agent-runner-worker",
        WorkerConfig::from_env,
        |config| async {
            match cli.command.unwrap_or(Command::Run) {
                Command::Run => run(config).await,
                Command::Healthcheck => healthcheck(&config).await,
            }
        },
    )
    .await
}

async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    // Agents' commands run as this user: keep them out of /proc/<pid>/environ.
    if let Err(e) = agent_runner_worker::inspection::forbid() {
        tracing::warn!(error = %e, "could not mark the worker not dumpable; its environment is readable by processes of its user");
    }
    let (agents, review) = agents::from_env(&Env::process(), config.simulated_crash_faults)
        .map_err(|e| anyhow::anyhow!("configuration error: {e}"))?;
    let worker = Worker::build(config, agents).await?.with_review(review);
    worker
        .run_until_stopped(agent_runner_lifecycle::shutdown_signal())
        .await
}

async fn healthcheck(config: &WorkerConfig) -> anyhow::Result<()> {
    agent_runner_lifecycle::probe_healthz(config.metrics_addr).await
}

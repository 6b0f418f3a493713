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
    let telemetry =
        match agent_runner_telemetry::init_from_env(&Env::process(), "agent-runner-worker") {
            Ok(telemetry) => telemetry,
            Err(err) => {
                eprintln!("configuration error: {err}");
                return ExitCode::from(2);
            }
        };
    let config = match WorkerConfig::from_env(&Env::process()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let outcome = match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(config).await,
        Command::Healthcheck => healthcheck(&config).await,
    };
    // Export the spans still buffered before the process ends, off the
    // runtime's threads (a gRPC exporter needs them to send).
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: WorkerConfig) -> anyhow::Result<()> {
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

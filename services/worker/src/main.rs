//! `agent-runner-worker`: parse the command line and config, set up logging,
//! register the agents and hand over to the library.

use agent_runner_agent::AgentRegistry;
use agent_runner_agent::simulated::SimulatedAgent;
use agent_runner_coding_agent::{CodingAgent, CodingAgentConfig};
use agent_runner_config::Env;
use agent_runner_worker::{Worker, WorkerConfig};
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;

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
    agent_runner_telemetry::init();
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
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    let llm =
        CodingAgentConfig::from_env().map_err(|e| anyhow::anyhow!("configuration error: {e}"))?;
    let agents = AgentRegistry::new()
        .with(Arc::new(SimulatedAgent))
        .with(Arc::new(CodingAgent::new(llm)));
    let worker = Worker::build(config, agents).await?;
    worker.run_until_stopped(shutdown_signal()).await
}

async fn healthcheck(config: &WorkerConfig) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut addr = config.metrics_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let timeout = std::time::Duration::from_secs(3);
    let mut stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await??;
    stream
        .write_all(
            format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut response = String::new();
    tokio::time::timeout(timeout, stream.read_to_string(&mut response)).await??;
    anyhow::ensure!(response.starts_with("HTTP/1.1 200"), "unhealthy");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut sigterm) => {
            tokio::select! {
                _ = sigterm.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _interrupted = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutdown requested");
}

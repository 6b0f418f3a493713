//! `agent-runner-api`: parse the command line and config, set up logging,
//! and hand over to the library.

use agent_runner_api::cli::{self, Cli, Command};
use agent_runner_api::{ApiConfig, Application};
use agent_runner_config::Env;
use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = match agent_runner_telemetry::init_from_env(&Env::process(), "agent-runner-api")
    {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let config = match ApiConfig::from_env(&Env::process()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => cli::run_migrate(&config).await,
        Command::Healthcheck => cli::run_healthcheck(&config).await,
        Command::Token { action } => cli::run_token(&config, action).await,
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

async fn serve(config: ApiConfig) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    app.run_until_stopped(agent_runner_lifecycle::shutdown_signal())
        .await
}

//! `agent-runner-api`: parse the command line and config, set up logging,
//! and hand over to the library.

use agent_runner_api::cli::{self, Cli, Command};
use agent_runner_api::{ApiConfig, Application};
use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    agent_runner_lifecycle::run_main("agent-runner-api", ApiConfig::from_env, |config| async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => cli::run_migrate(&config).await,
            Command::Healthcheck => cli::run_healthcheck(&config).await,
            Command::Token { action } => cli::run_token(&config, action).await,
        }
    })
    .await
}

async fn serve(config: ApiConfig) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    app.run_until_stopped(agent_runner_lifecycle::shutdown_signal())
        .await
}

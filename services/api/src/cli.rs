//! Command-line interface of the `agent-runner-api` binary.

use crate::config::ApiConfig;
use agent_runner_store::{StoreError, migrate, pool, tokens};
use anyhow::Context;
use clap::{Parser, Subcommand};

/// The agent-runner api and its operator commands.
#[derive(Debug, Parser)]
#[command(name = "agent-runner-api", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP api (the default).
    Serve,
    /// Apply database migrations (under an advisory lock) and exit.
    Migrate,
    /// Exit 0 when the api at API_ADDR answers /healthz.
    Healthcheck,
    /// Manage api tokens.
    Token {
        /// Token action.
        #[command(subcommand)]
        action: TokenAction,
    },
}

/// Token subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token and print it (alone) on stdout; it is stored hashed.
    Create {
        /// A name to recognise the token by.
        #[arg(long)]
        name: String,
        /// Grant the admin scope (operator-only actions).
        #[arg(long)]
        admin: bool,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke the live token with this name.
    Revoke {
        /// Token name.
        name: String,
    },
}

/// Applies migrations.
pub async fn run_migrate(config: &ApiConfig) -> anyhow::Result<()> {
    let pool = pool::connect(&config.database_url, 1)?;
    let applied = migrate::run(&pool).await.context("migration failed")?;
    tracing::info!(migrations.applied = applied.len(), "database is up to date");
    Ok(())
}

/// Runs a token subcommand, printing its output on stdout.
pub async fn run_token(config: &ApiConfig, action: TokenAction) -> anyhow::Result<()> {
    let pool = pool::connect(&config.database_url, 1)?;
    match action {
        TokenAction::Create { name, admin } => match tokens::create(&pool, &name, admin).await {
            Ok((secret, _info)) => println!("{secret}"),
            Err(StoreError::Conflict(_)) => {
                anyhow::bail!("a live token named `{name}` already exists")
            }
            Err(err) => return Err(err).context("cannot create the token"),
        },
        TokenAction::List => {
            for t in tokens::list(&pool).await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                let scope = if t.admin { "admin" } else { "user" };
                println!(
                    "{}\t{scope}\t{state}\t{}",
                    t.name,
                    t.created_at.to_rfc3339()
                );
            }
        }
        TokenAction::Revoke { name } => {
            if !tokens::revoke(&pool, &name).await? {
                anyhow::bail!("no live token named `{name}`");
            }
            println!("revoked {name}");
        }
    }
    Ok(())
}

/// Checks `/healthz` of the api at `config.addr`.
pub async fn run_healthcheck(config: &ApiConfig) -> anyhow::Result<()> {
    agent_runner_lifecycle::probe_healthz(config.addr).await
}

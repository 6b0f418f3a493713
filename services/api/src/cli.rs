//! Command-line interface of the `agent-runner-api` binary.

use crate::config::ApiConfig;
use agent_runner_store::access::Role;
use agent_runner_store::{Pool, StoreError, migrate, pool, projects, tokens};
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
        /// What it may do: viewer reads; runner also submits, cancels,
        /// retries and sends follow-ups; reviewer also approves and rejects;
        /// admin does everything.
        #[arg(long, default_value = "viewer", conflicts_with = "admin")]
        role: Role,
        /// Only this project (a name or an id) and its runs; repeat for more.
        /// Without it, every project. An admin is never scoped.
        #[arg(long = "project", value_name = "PROJECT", conflicts_with = "admin")]
        projects: Vec<String>,
        /// The admin role, unscoped (the same as `--role admin`).
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
        TokenAction::Create {
            name,
            role,
            projects,
            admin,
        } => {
            let role = if admin { Role::Admin } else { role };
            if role == Role::Admin && !projects.is_empty() {
                anyhow::bail!(
                    "an admin token can not be scoped to projects (an admin creates and \
                     changes projects); give --role viewer, runner or reviewer"
                );
            }
            let scope = if projects.is_empty() {
                None
            } else {
                Some(project_ids(&pool, &projects).await?)
            };
            match tokens::create(&pool, &name, role, scope.as_deref()).await {
                Ok((secret, _info)) => println!("{secret}"),
                Err(StoreError::Conflict(_)) => {
                    anyhow::bail!("a live token named `{name}` already exists")
                }
                Err(err) => return Err(err).context("cannot create the token"),
            }
        }
        TokenAction::List => {
            for t in tokens::list(&pool).await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                let projects = t.projects.map_or_else(|| "*".to_owned(), |p| p.join(","));
                println!(
                    "{}\t{}\t{projects}\t{state}\t{}",
                    t.name,
                    t.role,
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

/// The ids of projects given by name or id; an unknown one is an error.
async fn project_ids(pool: &Pool, given: &[String]) -> anyhow::Result<Vec<uuid::Uuid>> {
    let mut ids = Vec::with_capacity(given.len());
    for project in given {
        let by_id = match project.parse() {
            Ok(id) => projects::get(pool, id).await?,
            Err(_) => None,
        };
        let found = match by_id {
            Some(found) => Some(found),
            None => projects::find_by_name(pool, project).await?,
        };
        let found =
            found.with_context(|| format!("no project is named `{project}` or has that id"))?;
        ids.push(found.id);
    }
    Ok(ids)
}

/// Checks `/healthz` of the api at `config.addr`.
pub async fn run_healthcheck(config: &ApiConfig) -> anyhow::Result<()> {
    agent_runner_lifecycle::probe_healthz(config.addr).await
}

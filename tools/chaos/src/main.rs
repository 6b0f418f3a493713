//! `agent-runner-chaos`: the fault suite. It starts a private PostgreSQL and
//! a private RabbitMQ (own ports and data directories), then runs each
//! scenario against a fresh database and queue prefix with the real api and
//! worker binaries under load, injects the fault with real processes, and
//! checks the invariants in SQL. Prints a summary table; exits 1 when any
//! invariant was violated.
//!
//! Module map:
//! - [`private_pg`] and the test fixtures' `RabbitNode`: the private services;
//! - [`system`]: one system under test (database, api, workers);
//! - [`load`]: the submitting client, the reader and the answers they got;
//! - [`scenarios`]: the eight faults;
//! - [`invariants`]: the verdict; [`report`]: the table.

mod invariants;
mod load;
mod private_pg;
mod report;
mod scenarios;
mod system;

use agent_runner_test_fixtures::rabbit_node::RabbitNode;
use clap::Parser;
use private_pg::PrivatePostgres;
use scenarios::Infra;
use std::path::PathBuf;
use std::process::ExitCode;

/// Crashes and outages under load, with the invariants checked in SQL.
#[derive(Debug, Parser)]
#[command(name = "agent-runner-chaos", version, about)]
struct Args {
    /// Times to run the whole suite.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// Runs of load per scenario.
    #[arg(long, default_value_t = 300)]
    runs: usize,
    /// Only these scenarios (comma-separated); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Directory holding `agent-runner-api` and `agent-runner-worker`.
    #[arg(long, default_value = "target/debug")]
    bin_dir: PathBuf,
    /// Directory for the logs of the processes.
    #[arg(long, default_value = "target/chaos")]
    log_dir: PathBuf,
    /// Keep the scenario databases (the private services still go).
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match suite(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("chaos: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn suite(args: Args) -> anyhow::Result<bool> {
    agent_runner_fleet::ensure_binaries(&args.bin_dir)?;
    let chosen: Vec<&'static str> = if args.only.is_empty() {
        scenarios::ALL.to_vec()
    } else {
        let mut chosen = Vec::new();
        for name in &args.only {
            match scenarios::ALL.iter().find(|s| **s == name.as_str()) {
                Some(s) => chosen.push(*s),
                None => anyhow::bail!(
                    "unknown scenario `{name}`; known: {}",
                    scenarios::ALL.join(", ")
                ),
            }
        }
        chosen
    };
    // PostgreSQL runs as its own user when we are root: a directory it can reach.
    let private = std::env::temp_dir().join(format!("agent-runner-chaos-{}", std::process::id()));
    eprintln!(
        "chaos: starting private PostgreSQL and RabbitMQ under {}",
        private.display()
    );
    let pg = PrivatePostgres::create(&private.join("pg")).await?;
    let mq = match RabbitNode::create(&private.join("mq"), None).await {
        Ok(mq) => mq,
        Err(err) => {
            pg.destroy().await;
            return Err(err.into());
        }
    };
    let mut infra = Infra {
        pg,
        mq,
        bin_dir: args.bin_dir.clone(),
        log_dir: args.log_dir.clone(),
        runs: args.runs,
        keep: args.keep,
    };
    let mut rows = Vec::new();
    let mut failed = false;
    for round in 1..=args.rounds {
        for name in &chosen {
            let system = format!("chaos_r{round}_{}", name.replace('-', "_"));
            eprintln!("chaos: round {round}: {name}");
            match scenarios::run(&mut infra, name, &system).await {
                Ok(outcome) => {
                    failed |= !outcome.tally.violations.is_empty();
                    eprintln!(
                        "chaos: round {round}: {name}: {}",
                        if outcome.tally.violations.is_empty() {
                            "ok"
                        } else {
                            "FAIL"
                        }
                    );
                    rows.push((round, outcome));
                }
                Err(err) => {
                    failed = true;
                    eprintln!("chaos: round {round}: {name} could not run: {err:#}");
                }
            }
        }
    }
    print!("{}", report::table(&rows));
    infra.mq.destroy().await;
    infra.pg.destroy().await;
    let _removed = std::fs::remove_dir_all(&private);
    Ok(!failed)
}

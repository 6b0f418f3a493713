//! `agent-runner-bench`: the reference benchmark of agent-runner.
//!
//! Starts the release api and workers against a fresh database and queue
//! prefix, runs a scenario ([`args::Scenario`]; the figures are explained in
//! `docs/benchmarks.md`), prints one JSON line on stdout and a table on
//! stderr, and removes what it created.
//!
//! Module map:
//! - [`args`]: command-line options;
//! - [`environment`]: the fresh database/prefix and its teardown;
//! - the `agent-runner-fleet` crate: spawning and stopping the api and workers, their RSS;
//! - [`api`]: the HTTP calls; [`load`]: submitting with C connections;
//! - [`poll`]: waiting, verifying and reading timestamps from PostgreSQL;
//! - [`cpu`]: CPU attribution from `/proc`; [`rabbitmq`]: the management api;
//! - [`pg_work`]: PostgreSQL's work per run (`pg_stat_database`, `pg_stat_statements`);
//! - [`pg_rates`]: PostgreSQL's work per second over a window;
//! - [`open_loop`]: runs submitted at a fixed rate;
//! - [`stats`]: percentiles; [`report`]: the JSON line and the table;
//! - [`compare`]: the `compare` subcommand, medians and ratios of two builds' runs;
//! - [`scenarios`]: lifecycle-5, scale-out, idle-pickup, backlog-drain, fairness,
//!   long-runs.

mod api;
mod args;
mod compare;
mod cpu;
mod environment;
mod load;
mod open_loop;
mod pg_rates;
mod pg_work;
mod poll;
mod rabbitmq;
mod report;
mod scenarios;
mod stats;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args = args::Args::parse();
    if let Some(args::Command::Compare { base, head }) = &args.command {
        return match compare::run(base, head) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("bench: compare: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    let report = match scenarios::run(&args).await {
        Ok(report) => report,
        Err(err) => {
            eprintln!("bench: FAILED: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    eprint!("{}", report.table());
    match report.json_line() {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bench: cannot encode the report: {err:#}");
            ExitCode::FAILURE
        }
    }
}

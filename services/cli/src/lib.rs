//! The `agent-runner` command line: submit runs, follow their timelines live,
//! and manage runs, projects and workers through the agent-runner HTTP api.
//!
//! It only speaks HTTP to the api; it never touches the database or the queue.
//!
//! Module map:
//! - [`cli`]: the command line as clap parses it (usage errors exit 2).
//! - [`exit`]: the exit codes scripts rely on and the errors behind them.
//! - [`params`]: `--param key=value` and `--params-json` parsing.
//! - [`sse`]: a Server-Sent Events parser (bytes in, events out).
//! - `client`: HTTP requests and the mapping of failures onto exit codes.
//! - `follow`: following a run's events (stream, resume, polling fallback).
//! - `run_requests`: waiting for a run request (approve, reject, exec) the api handed
//!   to a run's worker (202).
//! - `commands`: one module per command.
//! - `render`, `timeline`, `style`, `spinner`: human output.

pub mod cli;
pub mod exit;
pub mod params;
pub mod sse;

mod client;
mod commands;
mod follow;
mod model;
mod render;
mod run_requests;
mod spinner;
mod style;
mod timeline;

pub use cli::Cli;
pub use exit::{CliError, Exit};

use client::ApiClient;
use commands::Ctx;
use std::io::IsTerminal;
use style::Style;

/// Runs one command line to completion and says how the process should exit.
/// Errors are reported on stderr here, once.
pub async fn run(cli: Cli) -> Exit {
    let Cli { global, command } = cli;
    let err_style = Style::detect(global.no_color, std::io::stderr().is_terminal());
    let token = global.token.filter(|t| !t.trim().is_empty());
    let client = match ApiClient::new(&global.url, token) {
        Ok(client) => client,
        Err(err) => return report(&err, err_style),
    };
    let ctx = Ctx {
        client,
        json: global.json,
        style: Style::detect(global.no_color, std::io::stdout().is_terminal()),
        spinner: std::io::stderr().is_terminal(),
    };
    match commands::dispatch(&ctx, command).await {
        Ok(exit) => exit,
        Err(err) => report(&err, err_style),
    }
}

fn report(err: &CliError, style: Style) -> Exit {
    eprintln!("{} {err}", style.red("error:"));
    err.exit()
}

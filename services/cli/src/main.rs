//! `agent-runner`: the command line of the agent-runner api. Parses the
//! arguments (clap exits 2 on a usage error) and hands over to the library;
//! Ctrl-C ends the process with 130 after the spinner line is cleared.

use agent_runner_cli::{Cli, run};
use clap::Parser;
use std::process::ExitCode;

/// Exit code of a process stopped by SIGINT, as shells report it.
const INTERRUPTED: u8 = 130;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tokio::select! {
        exit = run(cli) => exit.into(),
        // Dropping `run` drops its spinner, which clears its line.
        Ok(()) = tokio::signal::ctrl_c() => ExitCode::from(INTERRUPTED),
    }
}

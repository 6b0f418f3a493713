//! One module per command; [`dispatch`] routes a parsed command line to it.
//! Every command returns the exit code it ends with, or the error that
//! decides it (reported once, by the caller).

mod actions;
mod diff;
mod exec;
mod message;
mod projects;
mod review;
mod runs;
mod submit;
mod usage;
mod watch;
mod workers;

use crate::cli::{Command, ProjectsArgs, ProjectsCommand, RunsArgs, RunsCommand};
use crate::client::ApiClient;
use crate::exit::{CliError, Exit};
use crate::style::Style;

/// What every command needs.
#[derive(Debug)]
pub struct Ctx {
    /// The api.
    pub client: ApiClient,
    /// `--json`: print the api's JSON instead of human output.
    pub json: bool,
    /// Colours for stdout.
    pub style: Style,
    /// Whether a spinner may be drawn on stderr.
    pub spinner: bool,
}

/// Runs `command`.
pub async fn dispatch(ctx: &Ctx, command: Command) -> Result<Exit, CliError> {
    match command {
        Command::Submit(args) => submit::run(ctx, args).await,
        Command::Runs(RunsArgs { command, list }) => match command {
            None => runs::list(ctx, list).await,
            Some(RunsCommand::List(args)) => runs::list(ctx, args).await,
            Some(RunsCommand::Show { id }) => runs::show(ctx, id).await,
        },
        Command::Watch { id } => watch::run(ctx, id).await,
        Command::Cancel { id } => actions::cancel(ctx, id).await,
        Command::Retry { id } => actions::retry(ctx, id).await,
        Command::Approve(args) => review::approve(ctx, args).await,
        Command::Reject { id, wait_s } => review::reject(ctx, id, wait_s).await,
        Command::Message(args) => message::run(ctx, args).await,
        Command::Exec(args) => exec::run(ctx, args).await,
        Command::Diff { id, stat } => diff::run(ctx, id, stat).await,
        Command::Projects(ProjectsArgs { command }) => match command {
            Some(ProjectsCommand::Add {
                name,
                repo,
                branch,
                settings,
            }) => projects::add(ctx, name, repo, branch, settings).await,
            Some(ProjectsCommand::Update(args)) => projects::update(ctx, args).await,
            Some(ProjectsCommand::Usage { project, days }) => usage::run(ctx, &project, days).await,
            Some(ProjectsCommand::List) | None => projects::list(ctx).await,
        },
        Command::Workers => workers::run(ctx).await,
    }
}

/// The body as a `T`, or an error saying the api answered something else.
fn parse<T: serde::de::DeserializeOwned>(
    body: &serde_json::Value,
    what: &str,
) -> Result<T, CliError> {
    T::deserialize(body).map_err(|err| {
        CliError::Client(format!(
            "the api answered with something that is not {what}: {err}"
        ))
    })
}

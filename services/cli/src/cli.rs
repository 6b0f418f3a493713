//! The command line as clap parses it: global options, commands and their
//! arguments. Parsing only; nothing here talks to the api. Malformed input
//! (a bad URL, a run id that is not a UUID, `--param` without `=`) is a usage
//! error, exit 2.

use crate::params::{parse_param, parse_params_json};
use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value};
use uuid::Uuid;

const EXIT_CODES: &str = "\
Exit codes:
  0  success; a watched run COMPLETED or awaits approval
  1  a watched run FAILED
  2  usage error
  3  a watched run was CANCELLED or REJECTED
  4  the api refused the request (4xx)
  5  the api is unavailable (5xx) or unreachable, or a worker did not answer in time
`exec` exits with the code of the command it ran (see agent-runner exec --help).";

const EXEC_EXIT_CODES: &str = "\
The command is run by `sh -c` in the run's worktree. One CMD argument is taken as a
shell command line (`exec ID 'make test && git status'`); several are the words of one
command, quoted for the shell (`exec ID sh -c 'echo hi; exit 3'`). Options go before CMD.

Exit codes:
  0       the command exited 0
  1-255   the command's own exit code (a code outside 1-255 is clamped into it)
  124     the command timed out and the worker killed it
  137     the command was killed by a signal
  2       usage error
  4       the api refused the request (4xx; exec needs the admin role),
          or the worker could not run the command
  5       the api is unavailable (5xx) or unreachable, or the worker did not answer in time
Failures of agent-runner itself are reported on stderr as `error: …`.";

/// Submit, watch and manage agent-runner runs.
#[derive(Debug, Parser)]
#[command(name = "agent-runner", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Base URL of the agent-runner api.
    #[arg(
        long,
        global = true,
        env = "AGENT_RUNNER_URL",
        default_value = "http://127.0.0.1:8080",
        value_parser = parse_base_url
    )]
    pub url: String,
    /// Bearer token for the api.
    #[arg(
        long,
        global = true,
        env = "AGENT_RUNNER_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Print the api's JSON (one document on stdout) instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// No colours (also when NO_COLOR is set or stdout is not a terminal).
    #[arg(long, global = true)]
    pub no_color: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a run (and with --watch, follow it to the end).
    Submit(SubmitArgs),
    /// List runs (also with no subcommand) or show one.
    Runs(RunsArgs),
    /// Follow a run's timeline live until it finishes; exits by its status.
    Watch {
        /// Run id.
        id: Uuid,
    },
    /// Cancel a run (a running one stops shortly after).
    Cancel {
        /// Run id.
        id: Uuid,
    },
    /// Re-queue a FAILED or CANCELLED run for another attempt.
    Retry {
        /// Run id.
        id: Uuid,
    },
    /// Approve a run that awaits approval: merge its branch, or keep it.
    Approve(ApproveArgs),
    /// Reject a run that awaits approval (its branch is deleted).
    Reject {
        /// Run id.
        id: Uuid,
        /// Seconds to wait for the worker's answer once the api handed the
        /// request over (default 600); then exit 5, naming the request.
        #[arg(long = "wait", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        wait_s: Option<u64>,
    },
    /// Continue a finished llm run with a follow-up message, as a new attempt.
    #[command(visible_alias = "messages")]
    Message(MessageArgs),
    /// Run a command in the worktree of a run awaiting approval (admin token);
    /// exits with the command's exit code.
    #[command(after_help = EXEC_EXIT_CODES)]
    Exec(ExecArgs),
    /// Print the changes a run made, as a unified diff.
    Diff {
        /// Run id.
        id: Uuid,
        /// Print only the diffstat.
        #[arg(long)]
        stat: bool,
    },
    /// List projects (also with no subcommand), add or change one.
    Projects(ProjectsArgs),
    /// List live workers and how busy they are.
    Workers,
}

/// Arguments of `submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Project id or name.
    #[arg(long, short)]
    pub project: String,
    /// What the agent should achieve.
    #[arg(long, short)]
    pub goal: String,
    /// Agent kind (simulated, llm); the api's default when absent.
    #[arg(long)]
    pub agent: Option<String>,
    /// Agent parameter; repeatable. Numbers and true/false are typed.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, Value)>,
    /// Agent parameters as a JSON object (--param entries override its keys).
    #[arg(long, value_name = "JSON", value_parser = parse_params_json)]
    pub params_json: Option<Map<String, Value>>,
    /// Attempts before the run fails for good.
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<i32>,
    /// Deadline of each attempt, in seconds.
    #[arg(long = "timeout", value_name = "SECONDS")]
    pub timeout_s: Option<i64>,
    /// Order among the project's waiting runs, -10 to 10 (higher first).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub priority: Option<i64>,
    /// Makes the submission safe to repeat: the same key returns the same run.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Follow the run until it finishes and exit by its status.
    #[arg(long, short)]
    pub watch: bool,
}

/// Arguments of `approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Run id.
    pub id: Uuid,
    /// Merge the run's branch into BRANCH (default: the project's
    /// `settings.merge_into`, else its default branch).
    #[arg(long, value_name = "BRANCH", conflicts_with = "keep")]
    pub merge_into: Option<String>,
    /// Keep the run's branch as it is and merge nothing.
    #[arg(long)]
    pub keep: bool,
    /// With --keep: do not push the branch to the project's repository
    /// (for a repository that takes no pushes).
    #[arg(long, requires = "keep")]
    pub no_push: bool,
    /// Seconds to wait for the worker's answer once the api handed the
    /// request over (default 600); then exit 5, naming the request.
    #[arg(long = "wait", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub wait_s: Option<u64>,
}

/// Arguments of `message`.
#[derive(Debug, Args)]
pub struct MessageArgs {
    /// Run id.
    pub id: Uuid,
    /// The message; several words are joined with spaces.
    #[arg(value_name = "MESSAGE", required = true)]
    pub words: Vec<String>,
    /// Follow the run until it finishes and exit by its status.
    #[arg(long, short)]
    pub watch: bool,
}

/// Arguments of `exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Run id.
    pub id: Uuid,
    /// Seconds before the worker kills the command (the api's default is 60).
    #[arg(long = "timeout", visible_alias = "timeout-s", value_name = "SECONDS")]
    pub timeout_s: Option<u64>,
    /// Seconds to wait for the answer once the api handed the request over
    /// (default: the timeout plus 30); then exit 5, naming the request.
    #[arg(long = "wait", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub wait_s: Option<u64>,
    /// The command and its arguments.
    #[arg(
        value_name = "CMD",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub cmd: Vec<String>,
}

/// `runs`: a subcommand, or the options of `runs list`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    /// What to do; listing when absent.
    #[command(subcommand)]
    pub command: Option<RunsCommand>,
    /// `runs list` options, for `runs` alone.
    #[command(flatten)]
    pub list: ListArgs,
}

/// `projects`: a subcommand; listing when absent.
#[derive(Debug, Args)]
pub struct ProjectsArgs {
    /// What to do; listing when absent.
    #[command(subcommand)]
    pub command: Option<ProjectsCommand>,
}

/// `runs` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Show one run.
    Show {
        /// Run id.
        id: Uuid,
    },
}

/// Arguments of `runs list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only runs in this status (queued, running, completed, failed, …).
    #[arg(long)]
    pub status: Option<String>,
    /// Only runs of this project (id or name).
    #[arg(long)]
    pub project: Option<String>,
    /// Runs per page (the api allows 1 to 500; it defaults to 50).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Start after this cursor (printed when more runs exist).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Follow the cursors and list every matching run.
    #[arg(long)]
    pub all: bool,
}

/// `projects` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProjectsCommand {
    /// Create a project.
    Add {
        /// Unique project name.
        name: String,
        /// Git repository URL.
        #[arg(long, value_name = "URL")]
        repo: Option<String>,
        /// Default branch (the api uses `main` when absent).
        #[arg(long, value_name = "BRANCH")]
        branch: Option<String>,
        /// A setting (require_approval, push_branches, merge_into, model, …);
        /// repeatable. Numbers and true/false are typed.
        #[arg(long = "setting", value_name = "KEY=VALUE", value_parser = parse_param)]
        settings: Vec<(String, Value)>,
    },
    /// Change a project's repository, default branch or settings.
    Update(ProjectUpdateArgs),
    /// A project's tokens and runs by day, and its token budgets.
    Usage {
        /// Project id or name.
        project: String,
        /// Days listed, today first (the api allows 1 to 366; default 30).
        #[arg(long, value_name = "N")]
        days: Option<u32>,
    },
    /// List projects.
    #[command(visible_alias = "ls")]
    List,
}

/// Arguments of `projects update`.
#[derive(Debug, Args)]
pub struct ProjectUpdateArgs {
    /// Project id or name.
    pub project: String,
    /// New Git repository URL.
    #[arg(long, value_name = "URL", conflicts_with = "no_repo")]
    pub repo: Option<String>,
    /// Leave the project without a repository.
    #[arg(long)]
    pub no_repo: bool,
    /// New default branch.
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// Set a setting; repeatable. Numbers and true/false are typed.
    #[arg(long = "setting", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub settings: Vec<(String, Value)>,
    /// Remove a setting; repeatable.
    #[arg(long, value_name = "KEY")]
    pub unset: Vec<String>,
}

/// Accepts an absolute http(s) URL, returned without a trailing slash.
fn parse_base_url(raw: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|err| format!("not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http:// or https:// URL".to_owned());
    }
    Ok(raw.trim().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn base_urls_must_be_http() {
        assert_eq!(
            parse_base_url("http://api:8080/"),
            Ok("http://api:8080".into())
        );
        assert!(parse_base_url("api:8080").is_err());
        assert!(parse_base_url("ftp://api").is_err());
    }

    #[test]
    fn submit_collects_typed_params() {
        let cli = Cli::try_parse_from([
            "agent-runner",
            "submit",
            "--project",
            "demo",
            "--goal",
            "g",
            "--param",
            "step_delay_ms=0",
            "--param",
            "flag=true",
        ])
        .expect("parses");
        let Command::Submit(args) = cli.command else {
            panic!("not submit")
        };
        assert_eq!(
            args.params,
            vec![
                ("step_delay_ms".to_owned(), serde_json::json!(0)),
                ("flag".to_owned(), serde_json::json!(true))
            ]
        );
    }

    const RUN: &str = "0190a1b2-c3d4-7e5f-8a9b-000000000001";

    #[test]
    fn approve_takes_merge_into_or_keep_but_not_both() {
        let cli = Cli::try_parse_from(["agent-runner", "approve", RUN, "--merge-into", "release"])
            .expect("parses");
        let Command::Approve(args) = cli.command else {
            panic!("not approve")
        };
        assert_eq!(args.merge_into.as_deref(), Some("release"));
        assert!(!args.keep);
        let err = Cli::try_parse_from([
            "agent-runner",
            "approve",
            RUN,
            "--merge-into",
            "release",
            "--keep",
        ])
        .expect_err("rejected");
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn exec_takes_the_rest_of_the_line_as_the_command_options_included() {
        let cli = Cli::try_parse_from([
            "agent-runner",
            "exec",
            RUN,
            "--timeout-s",
            "5",
            "sh",
            "-c",
            "echo hi; exit 3",
        ])
        .expect("parses");
        let Command::Exec(args) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(args.timeout_s, Some(5));
        assert_eq!(args.cmd, ["sh", "-c", "echo hi; exit 3"]);
        let err = Cli::try_parse_from(["agent-runner", "exec", RUN]).expect_err("no command");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn message_is_also_spelled_messages() {
        let cli = Cli::try_parse_from(["agent-runner", "messages", RUN, "add", "tests", "-w"])
            .expect("parses");
        let Command::Message(args) = cli.command else {
            panic!("not message")
        };
        assert_eq!(args.words, ["add", "tests"]);
        assert!(args.watch);
    }

    #[test]
    fn a_malformed_run_id_is_a_usage_error() {
        let err = Cli::try_parse_from(["agent-runner", "watch", "nope"]).expect_err("rejected");
        assert_eq!(err.exit_code(), 2);
    }
}

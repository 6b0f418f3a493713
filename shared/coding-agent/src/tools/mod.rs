//! The tools the model may call, all confined to one worktree.
//!
//! - [`paths`] — path confinement (no absolute paths, `..`, `.git` or symlink
//!   escapes).
//! - [`fs`] — `list_files`, `read_file`, `write_file`, `str_replace`.
//! - [`search`] — `search_code`.
//! - [`command`] — `run_command`.
//! - [`sweep`] — killing what a command left running outside its process
//!   group.
//! - `finish` and `give_up` end the loop; the tool box only checks their
//!   arguments.
//!
//! [`ToolBox::call`] never fails: an unknown tool, invalid JSON or a refused
//! path becomes an error result the model can read and correct.

pub mod command;
pub mod fs;
pub mod paths;
pub mod search;
mod specs;
mod sweep;

pub use command::ExecOutput;
pub(crate) use specs::tool_specs;

use crate::output::cap_text;
use crate::sandbox::Sandbox;
use command::ExecEnd;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Limits of the tools of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ToolLimits {
    /// `run_command` timeout when none is given.
    pub(crate) command_timeout_default: Duration,
    /// Largest `run_command` timeout.
    pub(crate) command_timeout_max: Duration,
    /// Bytes of output per call.
    pub(crate) output_cap: usize,
}

/// What a tool call came to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ToolOutcome {
    /// A result for the model; `ok` is false for errors.
    Output {
        /// Whether the tool did what was asked.
        ok: bool,
        /// The result text (errors start with `error:`).
        text: String,
    },
    /// `finish{summary}`.
    Finish(String),
    /// `give_up{reason}`.
    GiveUp(String),
    /// The stop token fired while the tool ran (its processes are dead).
    Interrupted,
}

impl ToolOutcome {
    fn error(message: impl std::fmt::Display) -> Self {
        ToolOutcome::Output {
            ok: false,
            text: format!("error: {message}"),
        }
    }
}

/// Where a run's commands run: the worker's sandbox, the run's git
/// metadata and whether its project opens the network.
#[derive(Debug, Clone)]
pub(crate) struct CommandPlace {
    /// The worker's sandbox.
    pub(crate) sandbox: Arc<Sandbox>,
    /// The project's mirror, shown read-only.
    pub(crate) git_dir: Option<PathBuf>,
    /// `settings.network: "open"`.
    pub(crate) network_open: bool,
}

/// The tools of one run, rooted at its worktree.
#[derive(Debug, Clone)]
pub(crate) struct ToolBox {
    root: Arc<PathBuf>,
    limits: ToolLimits,
    place: CommandPlace,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListFilesArgs {
    #[serde(default)]
    path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadFileArgs {
    path: String,
    #[serde(default)]
    start_line: Option<usize>,
    #[serde(default)]
    end_line: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    path: String,
    content: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceArgs {
    path: String,
    old_str: String,
    new_str: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandArgs {
    cmd: String,
    #[serde(default)]
    timeout_s: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishArgs {
    summary: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GiveUpArgs {
    reason: String,
}

impl ToolBox {
    /// Tools over the worktree at `root` (canonicalised here).
    pub(crate) fn new(
        root: &Path,
        limits: ToolLimits,
        place: CommandPlace,
    ) -> std::io::Result<Self> {
        Ok(Self {
            root: Arc::new(root.canonicalize()?),
            limits,
            place,
        })
    }

    /// Runs tool `name` with `arguments` (JSON text), stopping early when
    /// `stop` fires.
    pub(crate) async fn call(
        &self,
        name: &str,
        arguments: &str,
        stop: &CancellationToken,
    ) -> ToolOutcome {
        let outcome = match self.dispatch(name, arguments, stop).await {
            Ok(outcome) => outcome,
            Err(message) => ToolOutcome::error(message),
        };
        match outcome {
            ToolOutcome::Output { ok, text } => ToolOutcome::Output {
                ok,
                text: cap_text(&text, self.limits.output_cap).0,
            },
            other => other,
        }
    }

    async fn dispatch(
        &self,
        name: &str,
        arguments: &str,
        stop: &CancellationToken,
    ) -> Result<ToolOutcome, String> {
        let root = Arc::clone(&self.root);
        match name {
            "list_files" => {
                let args: ListFilesArgs = parse(name, arguments)?;
                let path = args.path.unwrap_or_default();
                blocking(stop, move || fs::list_files(&root, &path)).await
            }
            "read_file" => {
                let args: ReadFileArgs = parse(name, arguments)?;
                blocking(stop, move || {
                    fs::read_file(&root, &args.path, args.start_line, args.end_line)
                })
                .await
            }
            "search_code" => {
                let args: SearchArgs = parse(name, arguments)?;
                blocking(stop, move || search::search_code(&root, &args.query)).await
            }
            "write_file" => {
                let args: WriteArgs = parse(name, arguments)?;
                blocking(stop, move || {
                    fs::write_file(&root, &args.path, &args.content)
                })
                .await
            }
            "str_replace" => {
                let args: ReplaceArgs = parse(name, arguments)?;
                blocking(stop, move || {
                    fs::str_replace(&root, &args.path, &args.old_str, &args.new_str)
                })
                .await
            }
            "run_command" => {
                let args: CommandArgs = parse(name, arguments)?;
                self.run_command(&args, stop).await
            }
            "finish" => {
                let args: FinishArgs = parse(name, arguments)?;
                Ok(ToolOutcome::Finish(args.summary))
            }
            "give_up" => {
                let args: GiveUpArgs = parse(name, arguments)?;
                Ok(ToolOutcome::GiveUp(args.reason))
            }
            other => Err(format!(
                "unknown tool `{other}`; the tools are: {}",
                specs::TOOL_NAMES.join(", ")
            )),
        }
    }

    async fn run_command(
        &self,
        args: &CommandArgs,
        stop: &CancellationToken,
    ) -> Result<ToolOutcome, String> {
        if args.cmd.trim().is_empty() {
            return Err("cmd must not be empty".to_owned());
        }
        let timeout = match args.timeout_s {
            None => self.limits.command_timeout_default,
            Some(0) => return Err("timeout_s must be at least 1".to_owned()),
            Some(s) => Duration::from_secs(s).min(self.limits.command_timeout_max),
        };
        let place = command::Place {
            sandbox: &self.place.sandbox,
            dir: &self.root,
            git_dir: self.place.git_dir.as_deref(),
            network_open: self.place.network_open,
        };
        match command::exec(place, &args.cmd, timeout, self.limits.output_cap, stop).await {
            Ok(ExecEnd::Finished(out)) => Ok(ToolOutcome::Output {
                ok: out.succeeded(),
                text: out.render(timeout),
            }),
            Ok(ExecEnd::Cancelled) => Ok(ToolOutcome::Interrupted),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Parses tool arguments: JSON text of an object (empty text counts as `{}`).
fn parse<T: DeserializeOwned>(tool: &str, arguments: &str) -> Result<T, String> {
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("the arguments of {tool} are not valid JSON ({e}): {text}"))?;
    if !value.is_object() {
        return Err(format!(
            "the arguments of {tool} must be a JSON object, got: {text}"
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("invalid arguments for {tool}: {e}"))
}

/// Runs a blocking file tool on the blocking pool; gives up waiting when
/// `stop` fires.
async fn blocking(
    stop: &CancellationToken,
    work: impl FnOnce() -> Result<String, String> + Send + 'static,
) -> Result<ToolOutcome, String> {
    let task = tokio::task::spawn_blocking(work);
    tokio::select! {
        joined = task => match joined {
            Ok(Ok(text)) => Ok(ToolOutcome::Output { ok: true, text }),
            Ok(Err(message)) => Err(message),
            Err(e) => Err(format!("the tool failed: {e}")),
        },
        () = stop.cancelled() => Ok(ToolOutcome::Interrupted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toolbox() -> (tempfile::TempDir, ToolBox) {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = ToolLimits {
            command_timeout_default: Duration::from_secs(5),
            command_timeout_max: Duration::from_secs(10),
            output_cap: 1024,
        };
        let place = CommandPlace {
            sandbox: Arc::new(Sandbox::new(crate::sandbox::SandboxConfig {
                mode: crate::sandbox::SandboxMode::Off,
                ..Default::default()
            })),
            git_dir: None,
            network_open: false,
        };
        let tools = ToolBox::new(dir.path(), limits, place).expect("toolbox");
        (dir, tools)
    }

    #[tokio::test]
    async fn unknown_tools_and_bad_arguments_become_error_results() {
        let (_dir, tools) = toolbox();
        let stop = CancellationToken::new();
        let ToolOutcome::Output { ok, text } = tools.call("rm_rf", "{}", &stop).await else {
            panic!("an output")
        };
        assert!(!ok);
        assert!(text.contains("unknown tool `rm_rf`"), "{text}");
        let ToolOutcome::Output { ok, text } = tools.call("read_file", "{path:", &stop).await
        else {
            panic!("an output")
        };
        assert!(!ok);
        assert!(text.contains("not valid JSON"), "{text}");
        let ToolOutcome::Output { text, .. } =
            tools.call("read_file", r#"{"file":"x"}"#, &stop).await
        else {
            panic!("an output")
        };
        assert!(text.contains("unknown field `file`"), "{text}");
    }

    #[tokio::test]
    async fn finish_and_give_up_carry_their_text() {
        let (_dir, tools) = toolbox();
        let stop = CancellationToken::new();
        assert_eq!(
            tools.call("finish", r#"{"summary":"done"}"#, &stop).await,
            ToolOutcome::Finish("done".into())
        );
        assert_eq!(
            tools.call("give_up", r#"{"reason":"no"}"#, &stop).await,
            ToolOutcome::GiveUp("no".into())
        );
    }
}

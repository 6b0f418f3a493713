//! Running the `git` CLI for the workspace: never interactive, never
//! inheriting a `GIT_DIR` from the worker's environment, killed if the run
//! is dropped half-way. Commands that talk to a remote ([`git_remote`]) are
//! bounded in time: a remote that stops answering can not hold a project's
//! lock for ever.

use super::WorkspaceError;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Identity of every commit the harness makes.
pub(crate) const AUTHOR_NAME: &str = "agent-runner";
/// E-mail of that identity.
pub(crate) const AUTHOR_EMAIL: &str = "agent-runner@localhost";

/// What a git command printed, and whether it succeeded.
#[derive(Debug)]
pub(crate) struct GitOutput {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `git -C dir args…` and returns its stdout; a non-zero exit is an
/// error quoting stderr.
pub(crate) async fn git(dir: &Path, args: &[&str]) -> Result<String, WorkspaceError> {
    git_with(dir, args, &[]).await
}

/// Runs `git -C dir args…` and returns its output whatever the exit code.
pub(crate) async fn git_output(dir: &Path, args: &[&str]) -> Result<GitOutput, WorkspaceError> {
    git_output_with(dir, args, &[]).await
}

/// Like [`git`], with extra environment variables.
pub(crate) async fn git_with(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<String, WorkspaceError> {
    let out = git_output_with(dir, args, env).await?;
    if out.success {
        Ok(out.stdout)
    } else {
        Err(WorkspaceError::Git {
            args: shown_args(args),
            stderr: out.stderr.trim().to_owned(),
        })
    }
}

async fn git_output_with(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<GitOutput, WorkspaceError> {
    let output = command(dir, args, env)
        .output()
        .await
        .map_err(|e| WorkspaceError::io(format!("could not run git {}", shown_args(args)), e))?;
    Ok(GitOutput::from(output))
}

/// Runs `git -C dir args…` that talks to a remote (clone, fetch, push), in a
/// process group of its own; past `timeout` — or when the caller drops the
/// future (a cancelled run) — the whole group (git and the helpers it
/// started: ssh, git-remote-https) is killed; a timeout is an error saying
/// so. Returns the output whatever the exit code.
pub(crate) async fn git_remote(
    dir: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<GitOutput, WorkspaceError> {
    let child = command(dir, args, &[])
        .process_group(0)
        .spawn()
        .map_err(|e| WorkspaceError::io(format!("could not run git {}", shown_args(args)), e))?;
    let mut group = GroupGuard(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    );
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(output) => {
            // Done: the group is gone (or its leftovers are git's business).
            group.0 = None;
            Ok(GitOutput::from(output.map_err(|e| {
                WorkspaceError::io(format!("could not run git {}", shown_args(args)), e)
            })?))
        }
        Err(_) => {
            drop(group);
            Err(WorkspaceError::Git {
                args: shown_args(args),
                stderr: format!(
                    "no answer from the remote within {} s (settings.git_timeout_s)",
                    timeout.as_secs()
                ),
            })
        }
    }
}

/// Kills a process group when dropped, unless emptied first.
struct GroupGuard(Option<Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
}

/// `git -C dir` with the workspace's fixed options and environment.
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args(["-c", &format!("user.name={AUTHOR_NAME}")])
        .args(["-c", &format!("user.email={AUTHOR_EMAIL}")])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

impl From<std::process::Output> for GitOutput {
    fn from(output: std::process::Output) -> Self {
        GitOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The arguments for an error message, with credentials in URLs hidden.
fn shown_args(args: &[&str]) -> String {
    args.iter()
        .map(|a| redact_url(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every `scheme://user:secret@host/…` in `text` → `scheme://***@host/…`.
pub(crate) fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '\'' || c == '"' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(user_end) => {
                out.push_str("***@");
                out.push_str(&authority[user_end + 1..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_hidden() {
        assert_eq!(
            redact_url("https://u:tok@host/r.git"),
            "https://***@host/r.git"
        );
        assert_eq!(redact_url("https://host/r.git"), "https://host/r.git");
        assert_eq!(redact_url("/srv/repo"), "/srv/repo");
        assert_eq!(
            redact_url("fatal: 'git://a:b@h/x' and https://t@k/y refused"),
            "fatal: 'git://***@h/x' and https://***@k/y refused"
        );
    }
}

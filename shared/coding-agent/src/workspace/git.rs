//! Running the `git` CLI for the harness — the one place the harness starts
//! git. The agent's `run_command` runs as the same OS user in a linked
//! worktree of the project's mirror, so everything git would read from disk
//! may have been rewritten by the agent: hooks, `core.fsmonitor`, filter,
//! diff and merge drivers in the repository's config, the worktree's `.git`
//! file, the user's `~/.gitconfig`. Git started here must never run code the
//! agent chose, and must never hand such code the worker's secrets:
//!
//! - **Cleared environment.** Only `PATH`, `HOME`, `LANG`/`LC_ALL=C`, proxy,
//!   TLS and ssh-agent variables, and the operator's `GIT_CONFIG_COUNT`
//!   settings (`GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>`, e.g. a
//!   credential helper) are passed on. No API key, no database URL.
//! - **No config file but the repository's.** `GIT_CONFIG_NOSYSTEM=1` and
//!   `GIT_CONFIG_GLOBAL=/dev/null`: `/etc/gitconfig` and `~/.gitconfig` are
//!   writable by a process of the worker's user (or root) and so are not
//!   trusted. The repository's own config is rewritten by the harness before
//!   it reads it, see [`super::repair`].
//! - **URLs after `--end-of-options`.** A remote command takes its URL
//!   separately ([`git_remote`]), checks it and puts it after
//!   `--end-of-options`: a URL such as `--upload-pack=…` is never an option.
//! - **Fixed options** on every command: `core.hooksPath=/dev/null` (no
//!   hook, wherever it was installed), `core.fsmonitor=false`, no global
//!   attributes or excludes file, `protocol.ext.allow=never`, the commit
//!   identity, no signing. Diffs are taken with `--no-ext-diff --no-textconv`
//!   by their callers.
//! - **Explicit directories.** A worktree is addressed through
//!   [`WorktreeDirs`] (`GIT_DIR`, `GIT_COMMON_DIR`, `GIT_WORK_TREE`), never
//!   through its `.git` file or its `commondir` file.
//! - **Bounded.** Every command runs in a process group of its own, killed
//!   with everything it started past its time limit or when the caller
//!   drops the future (a cancelled run): [`LOCAL_TIMEOUT`] for local work,
//!   the project's `settings.git_timeout_s` for [`git_remote`].
//!
//! Git is never interactive (`GIT_TERMINAL_PROMPT=0`, ssh in batch mode).

use super::WorkspaceError;
use agent_runner_domain::repo::{RepoPolicy, RepoUrl};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Identity of every commit the harness makes.
pub(crate) const AUTHOR_NAME: &str = "agent-runner";
/// E-mail of that identity.
pub(crate) const AUTHOR_EMAIL: &str = "agent-runner@localhost";
/// Longest a local git command (commit, diff, bundle, worktree…) may run.
pub(crate) const LOCAL_TIMEOUT: Duration = Duration::from_secs(600);
/// `PATH` when the worker has none.
const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Variables of the worker's environment git may need, passed on as they
/// are: where to find programs and credentials, how to reach the network.
const PASSED_ON: &[&str] = &[
    "HOME",
    "TMPDIR",
    "SSH_AUTH_SOCK",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
];
/// Options given to every command, ahead of its own arguments.
const FIXED_OPTIONS: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.attributesFile=/dev/null",
    "core.excludesFile=/dev/null",
    "protocol.ext.allow=never",
    "protocol.fd.allow=never",
    "commit.gpgsign=false",
    "tag.gpgsign=false",
];

/// A linked worktree named by its three directories, so that git reads
/// neither the worktree's `.git` file nor the `commondir` file of its
/// administrative directory (either may have been rewritten by the agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorktreeDirs {
    /// The checked-out files.
    pub(crate) work_tree: PathBuf,
    /// Its administrative directory, `<mirror>/worktrees/<name>`.
    pub(crate) git_dir: PathBuf,
    /// The mirror.
    pub(crate) common_dir: PathBuf,
}

/// How long a git command may run.
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// Local work: [`LOCAL_TIMEOUT`].
    Local,
    /// Talking to a remote: the project's `settings.git_timeout_s`.
    Remote(Duration),
}

impl Limit {
    fn duration(self) -> Duration {
        match self {
            Limit::Local => LOCAL_TIMEOUT,
            Limit::Remote(timeout) => timeout,
        }
    }

    fn exceeded(self) -> String {
        match self {
            Limit::Local => format!("still running after {} s", LOCAL_TIMEOUT.as_secs()),
            Limit::Remote(timeout) => format!(
                "no answer from the remote within {} s (settings.git_timeout_s)",
                timeout.as_secs()
            ),
        }
    }
}

/// Where a git command works.
#[derive(Debug, Clone, Copy)]
enum Place<'a> {
    /// `git -C dir`: a bare repository (the mirror), or a directory that is
    /// no repository (clone, init).
    Dir(&'a Path),
    /// A linked worktree, addressed explicitly.
    Worktree(&'a WorktreeDirs),
}

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
    run(Place::Dir(dir), args, &[], Limit::Local).await
}

/// Like [`git`], with extra environment variables.
pub(crate) async fn git_with(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<String, WorkspaceError> {
    succeeded(args, run(Place::Dir(dir), args, env, Limit::Local).await?)
}

/// Like [`git`], in a linked worktree.
pub(crate) async fn git_in(
    worktree: &WorktreeDirs,
    args: &[&str],
) -> Result<String, WorkspaceError> {
    succeeded(
        args,
        run(Place::Worktree(worktree), args, &[], Limit::Local).await?,
    )
}

/// Like [`git_output`], in a linked worktree.
pub(crate) async fn git_output_in(
    worktree: &WorktreeDirs,
    args: &[&str],
) -> Result<GitOutput, WorkspaceError> {
    run(Place::Worktree(worktree), args, &[], Limit::Local).await
}

/// Runs `git -C dir <command…> --end-of-options <url> <operands…>`, which
/// talks to a remote (clone, fetch, push), for at most `timeout` (the
/// project's `settings.git_timeout_s`). The URL is the one argument a client
/// chose: it is checked here against the rules of
/// [`agent_runner_domain::repo`] (a row may predate them) and always placed
/// after `--end-of-options`, so git can never read it, or an operand after
/// it, as an option. Returns the output whatever the exit code; a refused
/// URL or a timeout is an error saying so.
pub(crate) async fn git_remote(
    dir: &Path,
    command: &[&str],
    url: &str,
    operands: &[&str],
    timeout: Duration,
) -> Result<GitOutput, WorkspaceError> {
    checked_url(url)?;
    let mut args = command.to_vec();
    args.push("--end-of-options");
    args.push(url);
    args.extend_from_slice(operands);
    run(Place::Dir(dir), &args, &[], Limit::Remote(timeout)).await
}

/// Refuses a repository URL git could take for an option or a transport
/// that runs commands (`-…`, `ext::`, `fd::`, `ssh://-o…`, control
/// characters). Local repositories are the api's to allow or refuse
/// (`AGENT_ALLOW_LOCAL_REPOS`); here only the forms that are never safe are.
fn checked_url(url: &str) -> Result<(), WorkspaceError> {
    RepoUrl::parse(url, RepoPolicy { allow_local: true })
        .map(drop)
        .map_err(|e| {
            WorkspaceError::Invalid(format!(
                "the project's repo_url `{}` is refused: {e}",
                redact_url(url)
            ))
        })
}

fn succeeded(args: &[&str], out: GitOutput) -> Result<String, WorkspaceError> {
    if out.success {
        Ok(out.stdout)
    } else {
        Err(WorkspaceError::Git {
            args: shown_args(args),
            stderr: out.stderr.trim().to_owned(),
        })
    }
}

/// Runs git in a process group of its own; past `timeout` — or when the
/// caller drops the future — the whole group (git and the helpers it
/// started: ssh, git-remote-https, pack-objects) is killed.
async fn run(
    place: Place<'_>,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Limit,
) -> Result<GitOutput, WorkspaceError> {
    let child = command(place, args, env)
        .process_group(0)
        .spawn()
        .map_err(|e| WorkspaceError::io(format!("could not run git {}", shown_args(args)), e))?;
    let mut group = GroupGuard(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    );
    match tokio::time::timeout(limit.duration(), child.wait_with_output()).await {
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
                stderr: limit.exceeded(),
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

/// `git` at `place` with the workspace's fixed options and environment.
fn command(place: Place<'_>, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new("git");
    command.env_clear().envs(environment());
    match place {
        Place::Dir(dir) => {
            command.arg("-C").arg(dir);
        }
        Place::Worktree(dirs) => {
            command
                .arg("-C")
                .arg(&dirs.work_tree)
                .env("GIT_DIR", &dirs.git_dir)
                .env("GIT_COMMON_DIR", &dirs.common_dir)
                .env("GIT_WORK_TREE", &dirs.work_tree);
        }
    }
    for option in FIXED_OPTIONS {
        command.args(["-c", option]);
    }
    command
        .args(["-c", &format!("user.name={AUTHOR_NAME}")])
        .args(["-c", &format!("user.email={AUTHOR_EMAIL}")])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The whole environment of a harness git command.
fn environment() -> Vec<(OsString, OsString)> {
    let mut vars: Vec<(OsString, OsString)> = vec![
        (
            "PATH".into(),
            std::env::var_os("PATH").unwrap_or_else(|| FALLBACK_PATH.into()),
        ),
        ("LANG".into(), "C".into()),
        ("LC_ALL".into(), "C".into()),
        ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
        ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
        ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ("GIT_SSH_COMMAND".into(), "ssh -o BatchMode=yes".into()),
    ];
    for name in PASSED_ON {
        if let Some(value) = std::env::var_os(name) {
            vars.push(((*name).into(), value));
        }
    }
    vars.extend(operator_config());
    vars
}

/// The worker's `GIT_CONFIG_COUNT` settings: configuration an operator gives
/// git through the worker's environment, which the agent can not change.
fn operator_config() -> Vec<(OsString, OsString)> {
    let Some(count) = std::env::var("GIT_CONFIG_COUNT")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
    else {
        return Vec::new();
    };
    let mut vars = vec![("GIT_CONFIG_COUNT".into(), count.to_string().into())];
    for n in 0..count {
        for name in [
            format!("GIT_CONFIG_KEY_{n}"),
            format!("GIT_CONFIG_VALUE_{n}"),
        ] {
            if let Some(value) = std::env::var_os(&name) {
                vars.push((name.into(), value));
            }
        }
    }
    vars
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
    fn git_gets_only_the_variables_it_needs() {
        let fixed = [
            "PATH",
            "LANG",
            "LC_ALL",
            "GIT_CONFIG_NOSYSTEM",
            "GIT_CONFIG_GLOBAL",
            "GIT_TERMINAL_PROMPT",
            "GIT_SSH_COMMAND",
        ];
        for (name, _) in environment() {
            let name = name.to_string_lossy();
            assert!(
                fixed.contains(&name.as_ref())
                    || PASSED_ON.contains(&name.as_ref())
                    || name.starts_with("GIT_CONFIG_"),
                "{name} is passed on"
            );
        }
        let command = command(Place::Dir(Path::new("/")), &["status"], &[]);
        let std = command.as_std();
        let cleared = std.get_envs().any(|(name, _)| name == "GIT_CONFIG_GLOBAL");
        assert!(cleared);
        let args: Vec<_> = std.get_args().map(|a| a.to_string_lossy()).collect();
        assert!(
            args.iter().any(|a| a == "core.hooksPath=/dev/null"),
            "{args:?}"
        );
        assert!(args.iter().any(|a| a == "core.fsmonitor=false"), "{args:?}");
    }

    #[tokio::test]
    async fn a_remote_url_git_could_run_is_refused_and_nothing_runs() {
        let dir = std::env::temp_dir().join(format!("git-boundary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let marker = dir.join("ran");
        let shown = marker.to_string_lossy();
        for url in [
            format!("--upload-pack=touch {shown}"),
            format!("--receive-pack=touch {shown}"),
            format!("-u touch {shown}"),
            format!("--config=core.sshCommand=touch {shown}"),
            format!("ext::sh -c touch% {shown}"),
            "fd::3".to_owned(),
            format!("ssh://-oProxyCommand=touch%20{shown}/x"),
        ] {
            for command in [&["fetch", "--quiet"][..], &["clone", "--mirror"], &["push"]] {
                let refused =
                    git_remote(&dir, command, &url, &["x"], Duration::from_secs(10)).await;
                assert!(
                    matches!(refused, Err(WorkspaceError::Invalid(_))),
                    "{command:?} {url}: {refused:?}"
                );
            }
        }
        assert!(!marker.exists(), "nothing ran");
        let _ = std::fs::remove_dir_all(&dir);
    }

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

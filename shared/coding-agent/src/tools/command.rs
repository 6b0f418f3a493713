//! `run_command{cmd, timeout_s?}`: `sh -c` in the worktree, bounded.
//!
//! The command runs in its own process group with a scrubbed environment
//! (`PATH`, `HOME` = the worktree, `LANG`, and a tag naming the command —
//! nothing else, so no API key or database URL is handed to it). Its output
//! is capped. On timeout or cancel the whole group is killed with SIGKILL;
//! when the command ends on its own, what it left running in the background
//! is killed too. Processes that left the group (`setsid`) are found by
//! their tag and killed as well ([`super::sweep`]). If the future is dropped
//! half-way, a guard does the same.
//!
//! The process itself is made by [`crate::sandbox`]: this module bounds
//! its time and output, and reports a resource limit it ran into.

use super::sweep::{TAG_VAR, kill_tagged};
use crate::output::CappedBuffer;
use crate::sandbox::{Job, Level, LimitHit, Sandbox, SandboxError, limits::Ending};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

/// How long output readers may lag behind the end of the command.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecOutput {
    /// Exit code; `None` when it was killed by a signal (or timed out).
    pub exit_code: Option<i32>,
    /// Standard output, capped.
    pub stdout: String,
    /// Standard error, capped.
    pub stderr: String,
    /// Whether either stream was cut.
    pub truncated: bool,
    /// Whether the timeout killed it.
    pub timed_out: bool,
    /// The sandbox limit it ran into, e.g. `killed: memory limit (512 MiB)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl ExecOutput {
    /// Exit code 0 within the timeout.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// The text shown to the model.
    pub(crate) fn render(&self, timeout: Duration) -> String {
        let mut out = if self.timed_out {
            format!(
                "timed out after {} s; the process group was killed\n",
                timeout.as_secs()
            )
        } else {
            match self.exit_code {
                Some(code) => format!("exit code: {code}\n"),
                None => "killed by a signal\n".to_owned(),
            }
        };
        if let Some(limit) = &self.limit {
            out.push_str(limit);
            out.push('\n');
        }
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !text.is_empty() {
                out.push_str(&format!("--- {name} ---\n{text}"));
                if !text.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// How a command ended.
#[derive(Debug)]
pub(crate) enum ExecEnd {
    /// It exited or timed out.
    Finished(ExecOutput),
    /// The token fired; the process group was killed.
    Cancelled,
}

/// Kills a command's process group, and the processes carrying its tag,
/// once — at the latest when dropped.
struct GroupKiller {
    group: Option<Pid>,
    tag: String,
}

impl GroupKiller {
    fn kill(&mut self) {
        if let Some(group) = self.group.take() {
            // ESRCH (nothing left in the group) is the usual, fine outcome.
            let _ = killpg(group, Signal::SIGKILL);
            let escaped = kill_tagged(&self.tag);
            if escaped > 0 {
                tracing::info!(
                    processes = escaped,
                    "killed processes a command left running outside its process group"
                );
            }
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Why a command did not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    /// The sandbox refused or could not be prepared.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The process could not be spawned.
    #[error("could not start the command: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Where and how a command runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    /// The sandbox of the worker's commands.
    pub(crate) sandbox: &'a Sandbox,
    /// The worktree.
    pub(crate) dir: &'a Path,
    /// The run's git metadata, shown read-only.
    pub(crate) git_dir: Option<&'a Path>,
    /// Whether the project opens the network.
    pub(crate) network_open: bool,
}

/// Runs `cmd` with `sh -c` in the place's worktree, inside its sandbox.
pub(crate) async fn exec(
    place: Place<'_>,
    cmd: &str,
    timeout: Duration,
    output_cap: usize,
    cancel: &CancellationToken,
) -> Result<ExecEnd, StartError> {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let job = Job {
        worktree: place.dir,
        git_dir: place.git_dir,
        cmd,
        env: &[(TAG_VAR, &tag)],
        network_open: place.network_open,
    };
    let mut prepared = place.sandbox.command(&job).await?;
    let mut child = prepared
        .command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let mut group = GroupKiller {
        group: child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw),
        tag,
    };
    let stdout = tokio::spawn(read_capped(child.stdout.take(), output_cap));
    let stderr = tokio::spawn(read_capped(child.stderr.take(), output_cap));

    let (status, timed_out) = tokio::select! {
        status = child.wait() => (Some(status?), false),
        () = tokio::time::sleep(timeout) => (None, true),
        () = cancel.cancelled() => {
            group.kill();
            let _ = child.wait().await;
            stdout.abort();
            stderr.abort();
            return Ok(ExecEnd::Cancelled);
        }
    };
    // Whatever the command left behind dies with it; this also closes pipes
    // held open by background children.
    group.kill();
    if status.is_none() {
        let _ = child.wait().await;
    }
    let (stdout, out_cut) = drain(stdout).await;
    let (stderr, err_cut) = drain(stderr).await;
    drop(prepared.leftovers);
    let limit = match (place.sandbox.level().await, status) {
        (Level::Active(_), Some(status)) => LimitHit::of(Ending {
            code: status.code(),
            signal: status.signal(),
            stderr: &stderr,
        })
        .map(|hit| hit.describe(&place.sandbox.config().limits)),
        _ => None,
    };
    Ok(ExecEnd::Finished(ExecOutput {
        exit_code: status.and_then(|s| s.code()),
        stdout,
        stderr,
        truncated: out_cut || err_cut,
        timed_out,
        limit,
    }))
}

async fn read_capped(stream: Option<impl AsyncRead + Unpin>, cap: usize) -> (String, bool) {
    let mut buffer = CappedBuffer::new(cap);
    if let Some(mut stream) = stream {
        let mut chunk = vec![0_u8; 8192];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buffer.push(&chunk[..n]),
            }
        }
    }
    buffer.finish()
}

async fn drain(reader: tokio::task::JoinHandle<(String, bool)>) -> (String, bool) {
    let abort = reader.abort_handle();
    match tokio::time::timeout(DRAIN_GRACE, reader).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => (String::new(), false),
        Err(_) => {
            abort.abort();
            (
                "[output unavailable: a process outside the group kept it open]".to_owned(),
                true,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(cmd: &str, timeout: Duration) -> ExecOutput {
        let dir = tempfile::tempdir().expect("tempdir");
        let sandbox = Sandbox::new(crate::sandbox::SandboxConfig {
            mode: crate::sandbox::SandboxMode::Off,
            ..Default::default()
        });
        let place = Place {
            sandbox: &sandbox,
            dir: dir.path(),
            git_dir: None,
            network_open: false,
        };
        match exec(place, cmd, timeout, 64, &CancellationToken::new())
            .await
            .expect("spawn")
        {
            ExecEnd::Finished(out) => out,
            ExecEnd::Cancelled => panic!("not cancelled"),
        }
    }

    #[tokio::test]
    async fn the_environment_is_scrubbed_and_home_is_the_worktree() {
        let out = run(
            "echo \"$HOME|${LLM_API_KEY:-none}|${DATABASE_URL:-none}\"",
            Duration::from_secs(5),
        )
        .await;
        assert!(out.succeeded(), "{out:?}");
        assert!(out.stdout.ends_with("|none|none\n"), "{}", out.stdout);
    }

    #[tokio::test]
    async fn output_is_capped_and_the_exit_code_reported() {
        let out = run("yes | head -c 1000; exit 3", Duration::from_secs(5)).await;
        assert_eq!(out.exit_code, Some(3));
        assert!(out.truncated);
        assert!(out.stdout.ends_with(crate::output::TRUNCATED_MARKER));
    }

    #[tokio::test]
    async fn a_process_that_left_the_group_with_setsid_is_killed_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pid_file = dir.path().join("escaped.pid");
        let cmd = format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 30' > /dev/null 2>&1 < /dev/null &\n\
             while [ ! -s {0} ]; do sleep 0.01; done",
            pid_file.display()
        );
        let out = run(&cmd, Duration::from_secs(5)).await;
        assert!(out.succeeded(), "{out:?}");
        let pid = std::fs::read_to_string(&pid_file).expect("pid");
        let stat = format!("/proc/{}/stat", pid.trim());
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z "))
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = std::fs::read_to_string(&stat).unwrap_or_default();
        assert!(
            left.is_empty() || left.contains(") Z "),
            "still running: {left}"
        );
    }

    #[tokio::test]
    async fn a_timeout_kills_the_command_and_its_background_children() {
        let started = std::time::Instant::now();
        let out = run("sleep 30 & sleep 30", Duration::from_millis(200)).await;
        assert!(out.timed_out);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

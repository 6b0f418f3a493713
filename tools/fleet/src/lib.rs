//! The processes under test of the benchmark and the fault suite: one-shot
//! api commands (`migrate`, `token create`), the api server and the workers,
//! spawned from a directory of binaries with their output in a log
//! directory, stopped with SIGTERM (then SIGKILL after a grace period) or
//! killed outright, and their resident memory read from `/proc/<pid>/status`.
//! This crate never talks to the services themselves.

use anyhow::{Context, bail};
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long a SIGTERMed process gets before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(40);

/// What every spawned process is configured with.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// Directory of the binaries.
    pub bin_dir: PathBuf,
    /// Directory of the log files.
    pub log_dir: PathBuf,
    /// Name of the system under test (database and queue prefix); names the log files.
    pub name: String,
    /// `DATABASE_URL` of its database.
    pub database_url: String,
    /// `AMQP_URL`.
    pub amqp_url: String,
    /// More environment for every process (e.g. `LEASE_S`).
    pub env: Vec<(String, String)>,
}

impl Launcher {
    fn command(&self, binary: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(binary));
        command
            .env("DATABASE_URL", &self.database_url)
            .env("AMQP_URL", &self.amqp_url)
            .env("QUEUE_PREFIX", &self.name)
            // Plain text logs: they go to files, not a terminal.
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    fn log_file(&self, role: &str) -> anyhow::Result<(PathBuf, File)> {
        std::fs::create_dir_all(&self.log_dir)
            .with_context(|| format!("cannot create {}", self.log_dir.display()))?;
        let path = self.log_dir.join(format!("{}-{role}.log", self.name));
        // Appended to: a restarted process keeps the log of its predecessor.
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok((path, file))
    }

    /// Runs `agent-runner-api <args>` to completion and returns its stdout, trimmed.
    pub async fn api_command(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self
            .command("agent-runner-api")
            .args(args)
            .output()
            .await
            .with_context(|| {
                format!("cannot run agent-runner-api in {}", self.bin_dir.display())
            })?;
        if !output.status.success() {
            bail!(
                "`agent-runner-api {}` failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Starts `agent-runner-api serve` listening on `addr`.
    pub fn spawn_api(&self, addr: SocketAddr) -> anyhow::Result<Proc> {
        let mut command = self.command("agent-runner-api");
        command.arg("serve").env("API_ADDR", addr.to_string());
        self.spawn("api", command)
    }

    /// Starts worker number `index` with `concurrency`.
    pub fn spawn_worker(&self, index: usize, concurrency: u16) -> anyhow::Result<Proc> {
        let mut command = self.command("agent-runner-worker");
        command
            .env("WORKER_ID", self.worker_id(index))
            .env("WORKER_CONCURRENCY", concurrency.to_string())
            .env("WORKER_METRICS_ADDR", "127.0.0.1:0");
        self.spawn(&format!("worker-{index}"), command)
    }

    /// The `WORKER_ID` of worker number `index`.
    pub fn worker_id(&self, index: usize) -> String {
        format!("{}-w{index}", self.name)
    }

    fn spawn(&self, role: &str, mut command: Command) -> anyhow::Result<Proc> {
        let (log, file) = self.log_file(role)?;
        let stderr = file
            .try_clone()
            .context("cannot duplicate the log file handle")?;
        let child = command
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(stderr))
            .spawn()
            .with_context(|| format!("cannot start the {role} from {}", self.bin_dir.display()))?;
        let pid = child
            .id()
            .context("the child exited before it could be observed")?;
        Ok(Proc {
            role: role.to_owned(),
            pid,
            log,
            child,
        })
    }
}

/// A running api or worker process.
#[derive(Debug)]
pub struct Proc {
    /// `api` or `worker-<n>`.
    pub role: String,
    /// Its process id.
    pub pid: u32,
    /// Its log file.
    pub log: PathBuf,
    child: Child,
}

impl Proc {
    /// Resident memory in MiB (`VmRSS`), or None once the process is gone.
    pub fn rss_mb(&self) -> Option<f64> {
        rss_mb(self.pid)
    }

    /// An error naming the process and its log if it has exited.
    pub fn ensure_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                bail!(
                    "the {} exited unexpectedly ({status}); see {}",
                    self.role,
                    self.log.display()
                )
            }
            Err(err) => Err(err).with_context(|| format!("cannot poll the {}", self.role)),
        }
    }

    /// Whether the process has exited (and with what), without waiting.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends SIGTERM without waiting for the exit.
    pub async fn terminate(&mut self) -> anyhow::Result<()> {
        if let Ok(None) = self.child.try_wait() {
            let sent = Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status()
                .await
                .context("cannot run kill")?;
            if !sent.success() {
                eprintln!("kill -TERM {} ({}) failed", self.pid, self.role);
            }
        }
        Ok(())
    }

    /// SIGKILL, and reaps the process.
    pub async fn kill(mut self) -> anyhow::Result<ExitStatus> {
        self.child.start_kill().ok();
        self.child
            .wait()
            .await
            .with_context(|| format!("cannot wait for the {}", self.role))
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// SIGTERM, then wait for the graceful stop; SIGKILL after the grace.
    pub async fn stop(mut self) -> anyhow::Result<ExitStatus> {
        self.terminate().await?;
        match tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
            Ok(status) => status.with_context(|| format!("cannot wait for the {}", self.role)),
            Err(_) => {
                eprintln!(
                    "the {} ignored SIGTERM for {STOP_GRACE:?}; killing it",
                    self.role
                );
                self.child.start_kill().ok();
                self.child
                    .wait()
                    .await
                    .with_context(|| format!("cannot wait for the {}", self.role))
            }
        }
    }
}

/// The api and the workers of one system under test.
#[derive(Debug, Default)]
pub struct Fleet {
    /// The api server, once started.
    pub api: Option<Proc>,
    /// The workers started so far.
    pub workers: Vec<Proc>,
}

impl Fleet {
    /// Fails when any process has exited.
    pub fn ensure_alive(&mut self) -> anyhow::Result<()> {
        self.api
            .iter_mut()
            .chain(self.workers.iter_mut())
            .try_for_each(Proc::ensure_alive)
    }

    /// Stops the workers first (so they finish what they hold), then the api.
    /// Reports, but does not fail on, an unclean exit.
    pub async fn stop_all(&mut self) {
        let workers = std::mem::take(&mut self.workers);
        let stops = workers.into_iter().map(stop_reporting);
        futures_util::future::join_all(stops).await;
        if let Some(api) = self.api.take() {
            stop_reporting(api).await;
        }
    }
}

async fn stop_reporting(proc: Proc) {
    let (role, log) = (proc.role.clone(), proc.log.clone());
    match proc.stop().await {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("the {role} ended with {status}; see {}", log.display()),
        Err(err) => eprintln!("cannot stop the {role}: {err:#}"),
    }
}

/// Resident memory of `pid` in MiB, from `/proc/<pid>/status`.
pub fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss_kib(&status).map(|kib| kib as f64 / 1024.0)
}

fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A free local port: bind port 0, note the port, release it.
pub fn free_local_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    listener
        .local_addr()
        .context("cannot read the bound address")
}

/// Fails early with a clear message when a binary is missing.
pub fn ensure_binaries(bin_dir: &Path) -> anyhow::Result<()> {
    for binary in ["agent-runner-api", "agent-runner-worker"] {
        let path = bin_dir.join(binary);
        if !path.is_file() {
            bail!(
                "{} not found; build the binaries first (`cargo build --bins`, with `--release` for the benchmark)",
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status =
            "Name:\tagent-runner-api\nVmPeak:\t  99 kB\nVmRSS:\t   20480 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss_kib(status), Some(20480));
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_size() {
        assert!(rss_mb(std::process::id()).is_some_and(|mb| mb > 0.0));
    }
}

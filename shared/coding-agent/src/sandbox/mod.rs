//! The command sandbox: every process the agent or an operator runs in a
//! worktree (`run_command`, the admin `exec`) is started through
//! [`Sandbox::command`], the one place such a process is made.
//!
//! Layers, strongest set available used ([`probe`] finds it once):
//! - [`bwrap`] — namespaces: own mounts (only the system, toolchains, the
//!   worktree, the git metadata read-only), own PID space, no network.
//! - [`landlock`] — the same filesystem view enforced by the kernel, TCP
//!   refused where there is no network namespace, signals and abstract
//!   sockets scoped (ABI 6).
//! - [`seccomp`] — system calls builds never need are refused.
//! - [`limits`] — memory, processes, CPU time, file size; [`cgroup`] adds a
//!   pids cgroup where `RLIMIT_NPROC` does not hold (a root worker).
//!
//! The in-process layers are applied by the [`launcher`] binary to itself
//! before it execs the command. A worker that can set up neither
//! namespaces nor Landlock ABI 6 refuses commands (fails closed) unless
//! `AGENT_SANDBOX=off`.

pub mod bwrap;
pub mod cgroup;
mod config;
pub mod landlock;
pub mod launcher;
pub mod limits;
mod probe;
pub mod seccomp;

pub use config::{SandboxConfig, SandboxMode};
pub use limits::{LimitHit, Limits};

use launcher::LauncherSpec;
use serde::Serialize;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use tokio::process::Command;
use tokio::sync::OnceCell;

/// `PATH` when the worker has none.
const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// One layer of the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// User, PID, IPC, UTS, mount and network namespaces (bwrap).
    Namespaces,
    /// Landlock filesystem rules.
    LandlockFs,
    /// Landlock TCP rules (no network namespace).
    LandlockTcp,
    /// Landlock scoping of signals and abstract unix sockets.
    LandlockScope,
    /// The seccomp filter.
    Seccomp,
    /// `setrlimit` limits.
    Rlimits,
    /// A pids cgroup per command.
    PidsCgroup,
}

impl Layer {
    /// Its name in logs, events and `/v1/workers`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Namespaces => "namespaces",
            Self::LandlockFs => "landlock_fs",
            Self::LandlockTcp => "landlock_tcp",
            Self::LandlockScope => "landlock_scope",
            Self::Seccomp => "seccomp",
            Self::Rlimits => "rlimits",
            Self::PidsCgroup => "pids_cgroup",
        }
    }
}

/// How commands are set up, found once by the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    /// `AGENT_SANDBOX=off`: commands run as the worker's user, unconfined.
    Off,
    /// Commands run sandboxed.
    Active(Plan),
    /// No sandbox could be set up; commands are refused.
    Unavailable {
        /// What is missing, for the operator.
        missing: String,
    },
}

/// The pieces an active sandbox uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The launcher binary.
    pub launcher: PathBuf,
    /// `bwrap`, when the namespaces layer is used.
    pub bwrap: Option<PathBuf>,
    /// The kernel's Landlock ABI (0: none).
    pub landlock_abi: i32,
    /// Where per-command pids cgroups are made.
    pub cgroup: Option<PathBuf>,
}

impl Plan {
    /// The layers of a command; `network_open` drops the network rules.
    pub fn layers(&self, network_open: bool) -> Vec<Layer> {
        let mut layers = Vec::new();
        if self.bwrap.is_some() {
            layers.push(Layer::Namespaces);
        }
        if self.landlock_abi >= 1 {
            layers.push(Layer::LandlockFs);
        }
        if self.bwrap.is_none() && self.landlock_abi >= 4 && !network_open {
            layers.push(Layer::LandlockTcp);
        }
        if self.landlock_abi >= 6 {
            layers.push(Layer::LandlockScope);
        }
        layers.extend([Layer::Seccomp, Layer::Rlimits]);
        if self.cgroup.is_some() {
            layers.push(Layer::PidsCgroup);
        }
        layers
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::Unavailable { missing } => write!(f, "unavailable: {missing}"),
            Self::Active(plan) => {
                let names: Vec<&str> = plan.layers(false).iter().map(|l| l.as_str()).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

/// The sandbox could not start a command.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    /// The worker has no working sandbox.
    #[error(
        "the command sandbox is unavailable: {0} (AGENT_SANDBOX=off runs commands unsandboxed)"
    )]
    Unavailable(String),
    /// Preparing this command's sandbox failed.
    #[error("could not prepare the command sandbox: {0}")]
    Prepare(String),
}

/// A command to start in a worktree.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The worktree: the working directory, the one place it may write.
    pub worktree: &'a Path,
    /// The run's git metadata (the project's mirror), shown read-only.
    pub git_dir: Option<&'a Path>,
    /// Run by `sh -c`.
    pub cmd: &'a str,
    /// Environment variable pairs added to the scrubbed environment.
    pub env: &'a [(&'a str, &'a str)],
    /// Whether the project opens the network (`settings.network: "open"`).
    pub network_open: bool,
}

/// A prepared command and what to clean up after it.
#[derive(Debug)]
pub struct Prepared {
    /// Ready to spawn (stdio still to be set).
    pub command: Command,
    /// Removed when dropped: the command's private directories and cgroup.
    pub leftovers: Leftovers,
}

/// What a command's sandbox made on the worker's disk.
#[derive(Debug, Default)]
pub struct Leftovers {
    private_dir: Option<PathBuf>,
    cgroup: Option<PathBuf>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if let Some(dir) = self.private_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(dir) = self.cgroup.take() {
            cgroup::remove(&dir);
        }
    }
}

/// The sandbox of a worker's commands.
#[derive(Debug)]
pub struct Sandbox {
    config: SandboxConfig,
    level: OnceCell<Level>,
}

impl Sandbox {
    /// A sandbox, probed on first use.
    pub fn new(config: SandboxConfig) -> Self {
        Self {
            config,
            level: OnceCell::new(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// What the worker can set up (probed once, logged then).
    pub async fn level(&self) -> &Level {
        self.level
            .get_or_init(|| async {
                let level = probe::probe(&self.config).await;
                match &level {
                    Level::Off => tracing::warn!(
                        "AGENT_SANDBOX=off: commands in worktrees run unsandboxed, as the worker's user"
                    ),
                    Level::Unavailable { missing } => tracing::error!(
                        missing = %missing,
                        "the command sandbox can not be set up: llm runs and exec will be refused"
                    ),
                    Level::Active(_) => {
                        tracing::info!(sandbox.layers = %level, "command sandbox ready")
                    }
                }
                level
            })
            .await
    }

    /// The JSON shown in an llm run's WORKSPACE_READY event.
    pub async fn describe(&self, network_open: bool) -> serde_json::Value {
        match self.level().await {
            Level::Off => serde_json::json!({"mode": "off"}),
            Level::Unavailable { missing } => {
                serde_json::json!({"mode": "unavailable", "missing": missing})
            }
            Level::Active(plan) => serde_json::json!({
                "mode": "sandboxed",
                "layers": plan.layers(network_open),
                "network": if network_open { "open" } else { "none" },
                "landlock_abi": plan.landlock_abi,
            }),
        }
    }

    /// Fails unless commands can be started.
    pub async fn ready(&self) -> Result<(), SandboxError> {
        match self.level().await {
            Level::Unavailable { missing } => Err(SandboxError::Unavailable(missing.clone())),
            _ => Ok(()),
        }
    }

    /// `sh -c job.cmd` in `job.worktree`, inside the sandbox.
    pub async fn command(&self, job: &Job<'_>) -> Result<Prepared, SandboxError> {
        match self.level().await {
            Level::Unavailable { missing } => Err(SandboxError::Unavailable(missing.clone())),
            Level::Off => Ok(unsandboxed(job)),
            Level::Active(plan) => build(plan, &self.config, job, false),
        }
    }
}

/// `sh -c` as the worker's user, `HOME` the worktree (`AGENT_SANDBOX=off`).
fn unsandboxed(job: &Job<'_>) -> Prepared {
    let mut command = Command::new("sh");
    command.arg("-c").arg(job.cmd).current_dir(job.worktree);
    scrubbed_env(&mut command, job, job.worktree.as_os_str(), None);
    Prepared {
        command,
        leftovers: Leftovers::default(),
    }
}

/// The only environment a command gets.
fn scrubbed_env(command: &mut Command, job: &Job<'_>, home: &std::ffi::OsStr, tmp: Option<&Path>) {
    let path = std::env::var_os("PATH").unwrap_or_else(|| FALLBACK_PATH.into());
    command
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("LANG", "C.UTF-8");
    if let Some(tmp) = tmp {
        command.env("TMPDIR", tmp);
    }
    for (key, value) in job.env {
        command.env(key, value);
    }
}

/// The launcher's and bwrap's command line for `job` under `plan`
/// (`report`: the probe's).
fn build(
    plan: &Plan,
    config: &SandboxConfig,
    job: &Job<'_>,
    report: bool,
) -> Result<Prepared, SandboxError> {
    let prepare = |what: &str, e: std::io::Error| SandboxError::Prepare(format!("{what}: {e}"));
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut leftovers = Leftovers::default();
    if let Some(parent) = &plan.cgroup {
        let dir = cgroup::make(parent, &tag, config.limits.processes)
            .map_err(|e| prepare("could not make the command's pids cgroup", e))?;
        leftovers.cgroup = Some(dir);
    }
    let program: Vec<OsString> = vec!["sh".into(), "-c".into(), job.cmd.into()];
    let mut landlock = landlock::LandlockSpec {
        read_only: bwrap::SYSTEM.iter().map(PathBuf::from).collect(),
        read_write: vec![job.worktree.to_path_buf()],
        deny_tcp: false,
        scope: plan.landlock_abi >= 6,
        min_abi: plan.landlock_abi,
    };
    landlock.read_only.extend(config.read_only.iter().cloned());
    landlock.read_only.push("/proc".into());
    landlock
        .read_only
        .extend(job.git_dir.map(Path::to_path_buf));
    let inner = |landlock: landlock::LandlockSpec, deny_inet: bool| LauncherSpec {
        cgroup: None,
        limits: Some(config.limits),
        // The probe asks for Landlock wherever it may be, to learn the ABI.
        landlock: (report || plan.landlock_abi >= 1).then_some(landlock),
        seccomp: Some(deny_inet),
        report,
    };
    let mut command;
    if let Some(bwrap_path) = &plan.bwrap {
        landlock
            .read_write
            .extend(["/tmp", bwrap::HOME_INSIDE, "/dev"].map(PathBuf::from));
        let mut args = bwrap::args(&bwrap::Mounts {
            launcher: &plan.launcher,
            worktree: job.worktree,
            git_dir: job.git_dir,
            read_only: &config.read_only,
            network_open: job.network_open,
        });
        args.push(bwrap::LAUNCHER_INSIDE.into());
        args.extend(inner(landlock, false).to_args(&program));
        command = match &leftovers.cgroup {
            Some(dir) => {
                let outer = LauncherSpec {
                    cgroup: Some(dir.clone()),
                    ..LauncherSpec::default()
                };
                let mut bwrap_program = vec![bwrap_path.clone().into_os_string()];
                bwrap_program.extend(args);
                let mut c = Command::new(&plan.launcher);
                c.args(outer.to_args(&bwrap_program));
                c
            }
            None => {
                let mut c = Command::new(bwrap_path);
                c.args(args);
                c
            }
        };
        scrubbed_env(
            &mut command,
            job,
            bwrap::HOME_INSIDE.as_ref(),
            Some(Path::new("/tmp")),
        );
    } else {
        let private = std::env::temp_dir().join("agent-runner-sandbox").join(&tag);
        let (home, tmp) = (private.join("home"), private.join("tmp"));
        for dir in [&home, &tmp] {
            std::fs::create_dir_all(dir)
                .map_err(|e| prepare("could not make the command's private directories", e))?;
        }
        leftovers.private_dir = Some(private.clone());
        landlock.read_write.push(private);
        landlock
            .read_write
            .extend(["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"].map(PathBuf::from));
        landlock
            .read_only
            .extend(["/dev/urandom", "/dev/random"].map(PathBuf::from));
        landlock.deny_tcp = !job.network_open;
        let mut spec = inner(landlock, !job.network_open);
        spec.cgroup = leftovers.cgroup.clone();
        command = Command::new(&plan.launcher);
        command
            .args(spec.to_args(&program))
            .current_dir(job.worktree);
        scrubbed_env(&mut command, job, home.as_os_str(), Some(&tmp));
    }
    Ok(Prepared { command, leftovers })
}

//! Finding the strongest sandbox the worker can set up, once, by running
//! `true` through each candidate exactly as a command would run.

use super::{Job, Level, Plan, SandboxConfig, SandboxMode, build, cgroup};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// Name of the launcher binary.
pub const LAUNCHER_NAME: &str = "agent-runner-sandbox";
/// Longest a probe run may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Landlock ABI that stands in for namespaces (signal scoping).
const ABI_WITHOUT_NAMESPACES: i32 = 6;

/// The level for `config`.
pub(super) async fn probe(config: &SandboxConfig) -> Level {
    if config.mode == SandboxMode::Off {
        return Level::Off;
    }
    let launcher = match find_launcher(config) {
        Ok(path) => path,
        Err(missing) => return Level::Unavailable { missing },
    };
    let cgroup = cgroup::find();
    let bwrap = match &config.bwrap {
        _ if config.mode == SandboxMode::Landlock => None,
        Some(path) if !path.is_file() => {
            return Level::Unavailable {
                missing: format!(
                    "bwrap not found at {} (AGENT_SANDBOX_BWRAP)",
                    path.display()
                ),
            };
        }
        Some(path) => Some(path.clone()),
        None => on_path("bwrap"),
    };
    let mut why_not_namespaces = if config.mode == SandboxMode::Landlock {
        "AGENT_SANDBOX=landlock".to_owned()
    } else {
        "bwrap is not installed".to_owned()
    };
    if let Some(bwrap) = bwrap {
        let plan = Plan {
            launcher: launcher.clone(),
            bwrap: Some(bwrap.clone()),
            landlock_abi: 0,
            cgroup: cgroup.clone(),
        };
        match try_plan(plan, config).await {
            Ok(plan) => return Level::Active(plan),
            Err(e) if config.bwrap.is_some() => {
                return Level::Unavailable {
                    missing: format!(
                        "bwrap at {} can not set up namespaces: {e}",
                        bwrap.display()
                    ),
                };
            }
            Err(e) => why_not_namespaces = format!("bwrap can not set up namespaces: {e}"),
        }
    }
    let plan = Plan {
        launcher,
        bwrap: None,
        landlock_abi: ABI_WITHOUT_NAMESPACES,
        cgroup,
    };
    match try_plan(plan, config).await {
        Ok(plan) => {
            tracing::warn!(reason = %why_not_namespaces, "command sandbox without namespaces: Landlock, seccomp and limits only");
            Level::Active(plan)
        }
        Err(e) => Level::Unavailable {
            missing: format!(
                "{why_not_namespaces}; without namespaces Landlock ABI {ABI_WITHOUT_NAMESPACES} is needed: {e}"
            ),
        },
    }
}

/// Runs `true` under `plan`; the plan with the Landlock ABI the launcher saw.
async fn try_plan(mut plan: Plan, config: &SandboxConfig) -> Result<Plan, String> {
    let dir = tempfile::Builder::new()
        .prefix("agent-runner-sandbox-probe")
        .tempdir()
        .map_err(|e| format!("no temporary directory: {e}"))?;
    let job = Job {
        worktree: dir.path(),
        git_dir: None,
        cmd: "true",
        env: &[],
        network_open: false,
    };
    let mut prepared = build(&plan, config, &job, true).map_err(|e| e.to_string())?;
    let child = prepared
        .command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PROBE_TIMEOUT, child)
        .await
        .map_err(|_| "no answer within 10 s".to_owned())?
        .map_err(|e| format!("could not start it: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{} ({})", stderr.trim(), out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    plan.landlock_abi = stdout
        .lines()
        .find_map(|l| l.strip_prefix("landlock-abi="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Ok(plan)
}

fn find_launcher(config: &SandboxConfig) -> Result<PathBuf, String> {
    if let Some(path) = &config.launcher {
        return if path.is_file() {
            Ok(path.clone())
        } else {
            Err(format!(
                "the sandbox launcher is not at {} (AGENT_SANDBOX_LAUNCHER)",
                path.display()
            ))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("no executable path: {e}"))?;
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(LAUNCHER_NAME))
        .collect();
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!(
            "the sandbox launcher {LAUNCHER_NAME} was not found next to {} (set AGENT_SANDBOX_LAUNCHER)",
            exe.display()
        )
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_else(|| vec![PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|p| Path::is_file(p))
}

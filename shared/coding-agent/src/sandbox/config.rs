//! The sandbox's settings, read with the agent's configuration:
//! `AGENT_SANDBOX` (`auto`, the default, `landlock` or `off`), `AGENT_SANDBOX_BWRAP`,
//! `AGENT_SANDBOX_LAUNCHER`, `AGENT_SANDBOX_READ_ONLY` and the limits
//! `AGENT_SANDBOX_MEMORY_MIB`, `AGENT_SANDBOX_PROCESSES`,
//! `AGENT_SANDBOX_CPU_S`, `AGENT_SANDBOX_FILE_MIB`.

use super::limits::Limits;
use crate::config::ConfigError;
use std::path::PathBuf;

/// Whether commands are sandboxed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxMode {
    /// The strongest sandbox available; none available: commands refused.
    #[default]
    Auto,
    /// Landlock, seccomp and limits without namespaces, as on a platform
    /// that allows no user namespaces (most container runtimes' default
    /// seccomp profile); refused like `Auto` when Landlock ABI 6 is missing.
    Landlock,
    /// No sandbox (logged at start-up, shown on every run).
    Off,
}

/// How the worker sandboxes commands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxConfig {
    /// `AGENT_SANDBOX`.
    pub mode: SandboxMode,
    /// `bwrap` to use; `None`: `bwrap` on `PATH` when there is one. A path
    /// given that does not work makes the sandbox unavailable.
    pub bwrap: Option<PathBuf>,
    /// The launcher binary; `None`: `agent-runner-sandbox` next to the
    /// running executable (or one directory up, as cargo lays tests out).
    pub launcher: Option<PathBuf>,
    /// More directories shown read-only (toolchains outside `/usr`).
    pub read_only: Vec<PathBuf>,
    /// Limits of each command.
    pub limits: Limits,
}

impl SandboxConfig {
    /// Reads the variables through `get` (trimmed, empty = unset).
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(raw) = get("AGENT_SANDBOX") {
            config.mode = match raw.to_ascii_lowercase().as_str() {
                "auto" | "on" => SandboxMode::Auto,
                "landlock" => SandboxMode::Landlock,
                "off" => SandboxMode::Off,
                _ => {
                    return Err(ConfigError {
                        var: "AGENT_SANDBOX",
                        reason: format!("expected auto, landlock or off, got `{raw}`"),
                    });
                }
            };
        }
        config.bwrap = get("AGENT_SANDBOX_BWRAP").map(PathBuf::from);
        config.launcher = get("AGENT_SANDBOX_LAUNCHER").map(PathBuf::from);
        if let Some(raw) = get("AGENT_SANDBOX_READ_ONLY") {
            config.read_only = std::env::split_paths(&raw).collect();
            if let Some(relative) = config.read_only.iter().find(|p| !p.is_absolute()) {
                return Err(ConfigError {
                    var: "AGENT_SANDBOX_READ_ONLY",
                    reason: format!("expected absolute paths, got `{}`", relative.display()),
                });
            }
        }
        let limits = &mut config.limits;
        for (var, field, max) in [
            ("AGENT_SANDBOX_MEMORY_MIB", &mut limits.memory_mib, 1 << 20),
            ("AGENT_SANDBOX_PROCESSES", &mut limits.processes, 1 << 20),
            ("AGENT_SANDBOX_CPU_S", &mut limits.cpu_s, 86_400),
            ("AGENT_SANDBOX_FILE_MIB", &mut limits.file_mib, 1 << 20),
        ] {
            if let Some(raw) = get(var) {
                *field = match raw.parse::<u64>() {
                    Ok(n) if (1..=max).contains(&n) => n,
                    _ => {
                        return Err(ConfigError {
                            var,
                            reason: format!(
                                "expected a whole number between 1 and {max}, got `{raw}`"
                            ),
                        });
                    }
                };
            }
        }
        Ok(config)
    }
}

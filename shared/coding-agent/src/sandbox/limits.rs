//! Resource limits of a sandboxed command (`setrlimit`, applied by the
//! launcher to itself before it execs the command) and how a command that
//! ran into one is reported to the model.
//!
//! `RLIMIT_NPROC` counts the processes of a user *in a user namespace*: in
//! the namespaces layer every command gets a fresh one, so the limit is the
//! command's own; without it the count includes every process of the
//! worker's user (the worker's threads, other commands). Processes of uid 0
//! are exempt from it, which is why a root worker also uses a pids cgroup
//! ([`super::cgroup`]) when it can.

use nix::sys::resource::{Resource, setrlimit};
use serde::Serialize;
use std::fmt;

/// The limits every sandboxed command runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Address space, in MiB (`RLIMIT_AS`).
    pub memory_mib: u64,
    /// Processes (and threads), `RLIMIT_NPROC` and the pids cgroup.
    pub processes: u64,
    /// CPU seconds (`RLIMIT_CPU`; SIGXCPU, then SIGKILL).
    pub cpu_s: u64,
    /// Largest file a command may write, in MiB (`RLIMIT_FSIZE`; SIGXFSZ).
    pub file_mib: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_mib: 4096,
            processes: 512,
            cpu_s: 600,
            file_mib: 1024,
        }
    }
}

const MIB: u64 = 1024 * 1024;

impl Limits {
    /// Sets the limits on the calling process (inherited by what it execs).
    pub fn apply(&self) -> nix::Result<()> {
        let set = |resource, value: u64| setrlimit(resource, value, value);
        set(Resource::RLIMIT_AS, self.memory_mib.saturating_mul(MIB))?;
        set(Resource::RLIMIT_NPROC, self.processes)?;
        set(Resource::RLIMIT_CPU, self.cpu_s)?;
        set(Resource::RLIMIT_FSIZE, self.file_mib.saturating_mul(MIB))?;
        set(Resource::RLIMIT_CORE, 0)
    }
}

/// A limit a command ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitHit {
    /// An allocation was refused (`RLIMIT_AS`).
    Memory,
    /// A fork was refused (`RLIMIT_NPROC`, pids cgroup).
    Processes,
    /// SIGXCPU (`RLIMIT_CPU`).
    CpuTime,
    /// SIGXFSZ (`RLIMIT_FSIZE`).
    FileSize,
}

/// How a command ended, as far as limits are concerned.
#[derive(Debug, Clone, Copy)]
pub struct Ending<'a> {
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// What it wrote to standard error.
    pub stderr: &'a str,
}

/// What allocators and shells print when the kernel refuses memory.
const MEMORY_MESSAGES: &[&str] = &[
    "MemoryError",
    "Cannot allocate memory",
    "memory allocation of",
    "std::bad_alloc",
    "out of memory",
];

/// What shells and runtimes print when the kernel refuses a fork.
const FORK_MESSAGES: &[&str] = &[
    "fork: Resource temporarily unavailable",
    "Cannot fork",
    "can't fork",
    "fork failed",
    "BlockingIOError: [Errno 11]",
];

impl LimitHit {
    /// The limit a failed command most likely ran into: a signal or exit
    /// code the limit causes (a shell reports a killed child as 128 + its
    /// signal), else the message its allocator or shell printed.
    pub fn of(ending: Ending<'_>) -> Option<Self> {
        let signal = ending
            .signal
            .or(ending.code.filter(|c| *c > 128).map(|c| c - 128));
        match signal {
            Some(libc::SIGXCPU) => return Some(Self::CpuTime),
            Some(libc::SIGXFSZ) => return Some(Self::FileSize),
            _ => {}
        }
        if ending.code == Some(0) {
            return None;
        }
        if MEMORY_MESSAGES.iter().any(|m| ending.stderr.contains(m)) {
            Some(Self::Memory)
        } else if FORK_MESSAGES.iter().any(|m| ending.stderr.contains(m)) {
            Some(Self::Processes)
        } else {
            None
        }
    }

    /// The line shown to the model, naming the limit and its value.
    pub fn describe(self, limits: &Limits) -> String {
        match self {
            Self::Memory => format!("killed: memory limit ({} MiB)", limits.memory_mib),
            Self::Processes => format!("killed: process limit ({})", limits.processes),
            Self::CpuTime => format!("killed: CPU time limit ({} s)", limits.cpu_s),
            Self::FileSize => format!("killed: file size limit ({} MiB)", limits.file_mib),
        }
    }
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Memory => "memory",
            Self::Processes => "processes",
            Self::CpuTime => "cpu_time",
            Self::FileSize => "file_size",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(code: Option<i32>, signal: Option<i32>, stderr: &str) -> Option<LimitHit> {
        LimitHit::of(Ending {
            code,
            signal,
            stderr,
        })
    }

    #[test]
    fn signals_and_shell_exit_codes_name_the_limit() {
        assert_eq!(hit(None, Some(libc::SIGXCPU), ""), Some(LimitHit::CpuTime));
        assert_eq!(
            hit(Some(128 + libc::SIGXFSZ), None, ""),
            Some(LimitHit::FileSize)
        );
        assert_eq!(hit(Some(1), None, "MemoryError\n"), Some(LimitHit::Memory));
        assert_eq!(
            hit(Some(2), None, "sh: 1: Cannot fork\n"),
            Some(LimitHit::Processes)
        );
        assert_eq!(hit(Some(1), None, "test failed\n"), None);
        assert_eq!(hit(Some(0), None, "MemoryError"), None);
    }

    #[test]
    fn the_report_names_the_limit_and_its_value() {
        let limits = Limits {
            memory_mib: 512,
            ..Limits::default()
        };
        assert_eq!(
            LimitHit::Memory.describe(&limits),
            "killed: memory limit (512 MiB)"
        );
    }
}

//! The namespaces layer, through bubblewrap (`bwrap`): a user, PID, IPC,
//! UTS, cgroup and (unless the project opens it) network namespace per
//! command, and a mount namespace holding only the system read-only (minus
//! `/etc`'s secrets), the configured toolchains read-only, the run's git
//! metadata read-only, the worktree read-write, and a private `/tmp` and
//! `$HOME`. Every capability is dropped; the sandbox dies with the worker.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where the launcher is mounted inside the sandbox.
pub const LAUNCHER_INSIDE: &str = "/run/agent-runner-sandbox";
/// `$HOME` inside the sandbox (a private tmpfs).
pub const HOME_INSIDE: &str = "/home/agent";

/// System directories bound read-only (a symlink is made again as one).
pub const SYSTEM: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

/// Files and directories of `/etc` the sandbox does not show.
const ETC_SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/ssl/private",
];

/// What one sandbox shows.
#[derive(Debug, Clone)]
pub struct Mounts<'a> {
    /// The launcher on the worker's disk.
    pub launcher: &'a Path,
    /// The worktree, read-write, at its own path.
    pub worktree: &'a Path,
    /// The run's git metadata (the project's mirror), read-only.
    pub git_dir: Option<&'a Path>,
    /// Toolchains and other directories, read-only.
    pub read_only: &'a [PathBuf],
    /// Whether the command shares the worker's network.
    pub network_open: bool,
}

/// `bwrap`'s arguments up to and including the `--` before the program.
pub fn args(m: &Mounts<'_>) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&std::ffi::OsStr]| a.extend(items.iter().map(|s| s.to_os_string()));
    push(&[
        "--die-with-parent".as_ref(),
        "--unshare-user".as_ref(),
        "--unshare-pid".as_ref(),
        "--unshare-ipc".as_ref(),
        "--unshare-uts".as_ref(),
        "--unshare-cgroup-try".as_ref(),
        "--cap-drop".as_ref(),
        "ALL".as_ref(),
    ]);
    if !m.network_open {
        push(&["--unshare-net".as_ref()]);
    }
    for dir in SYSTEM {
        let path = Path::new(dir);
        match std::fs::read_link(path) {
            Ok(target) => push(&["--symlink".as_ref(), target.as_os_str(), path.as_os_str()]),
            Err(_) if path.is_dir() => {
                push(&["--ro-bind".as_ref(), path.as_os_str(), path.as_os_str()])
            }
            Err(_) => {}
        }
    }
    for secret in ETC_SECRETS {
        let path = Path::new(secret);
        if path.is_dir() {
            push(&["--tmpfs".as_ref(), path.as_os_str()]);
        } else if path.exists() {
            push(&["--ro-bind".as_ref(), "/dev/null".as_ref(), path.as_os_str()]);
        }
    }
    push(&[
        "--proc".as_ref(),
        "/proc".as_ref(),
        "--dev".as_ref(),
        "/dev".as_ref(),
        "--tmpfs".as_ref(),
        "/tmp".as_ref(),
        "--tmpfs".as_ref(),
        HOME_INSIDE.as_ref(),
    ]);
    for dir in m.read_only {
        push(&["--ro-bind-try".as_ref(), dir.as_os_str(), dir.as_os_str()]);
    }
    if let Some(git) = m.git_dir {
        push(&["--ro-bind".as_ref(), git.as_os_str(), git.as_os_str()]);
    }
    push(&[
        "--bind".as_ref(),
        m.worktree.as_os_str(),
        m.worktree.as_os_str(),
        "--ro-bind".as_ref(),
        m.launcher.as_os_str(),
        LAUNCHER_INSIDE.as_ref(),
        "--chdir".as_ref(),
        m.worktree.as_os_str(),
        "--".as_ref(),
    ]);
    a
}

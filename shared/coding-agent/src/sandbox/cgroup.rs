//! The pids cgroup layer: a cgroup per command with `pids.max`, for workers
//! whose processes `RLIMIT_NPROC` does not hold (uid 0 is exempt from it).
//! It needs a pids hierarchy the worker may write: cgroup v1's
//! `/sys/fs/cgroup/pids`, or a cgroup v2 root with the pids controller.
//! The launcher moves itself into the command's cgroup before anything
//! else, so every process of the command is counted.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where per-command cgroups are made, under each candidate hierarchy.
const PARENT: &str = "agent-runner-sandbox";

/// A writable pids hierarchy, or `None`.
pub fn find() -> Option<PathBuf> {
    ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]
        .iter()
        .map(Path::new)
        .find_map(|base| usable(base).ok())
}

fn usable(base: &Path) -> std::io::Result<PathBuf> {
    let parent = base.join(PARENT);
    match std::fs::create_dir(&parent) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let v2_control = parent.join("cgroup.subtree_control");
    if v2_control.exists() {
        std::fs::write(&v2_control, "+pids")?;
    }
    // A child made and removed proves the hierarchy works for commands.
    let probe = make(&parent, "probe", 1)?;
    remove(&probe);
    Ok(parent)
}

/// Makes `<parent>/<name>` allowing at most `max` processes.
pub fn make(parent: &Path, name: &str, max: u64) -> std::io::Result<PathBuf> {
    let dir = parent.join(name);
    std::fs::create_dir(&dir)?;
    if let Err(e) = std::fs::write(dir.join("pids.max"), max.to_string()) {
        remove(&dir);
        return Err(e);
    }
    Ok(dir)
}

/// Moves the calling process into `dir`.
pub fn join(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
}

/// Removes a command's cgroup once its processes are gone (they were
/// killed; the kernel may take a moment to let go of them).
pub fn remove(dir: &Path) {
    for _ in 0..50 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    tracing::warn!(cgroup = %dir.display(), "could not remove a command's cgroup");
}

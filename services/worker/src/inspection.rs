//! Keeping other processes of the worker's user out of the worker's
//! environment and memory.
//!
//! Agents' commands run as the worker's user. Without more, any of them
//! could read `/proc/<worker pid>/environ` (the LLM API key, the database
//! URL) or attach a debugger. [`forbid`] marks the worker not dumpable
//! (`prctl(PR_SET_DUMPABLE, 0)`): its `/proc/<pid>/environ`, `mem` and
//! `maps` then belong to root, and `ptrace` needs `CAP_SYS_PTRACE`. It does
//! nothing against root or a process with that capability — a worker that
//! runs commands for untrusted goals belongs in a container or pod of its
//! own. The processes the worker starts are dumpable again after their
//! `exec`; they get scrubbed environments.

/// Marks this process not dumpable; an error when the system refuses.
#[cfg(target_os = "linux")]
pub fn forbid() -> Result<(), nix::Error> {
    nix::sys::prctl::set_dumpable(false)
}

/// Not available outside Linux: nothing is done.
#[cfg(not(target_os = "linux"))]
pub fn forbid() -> Result<(), std::io::Error> {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_worker_process_is_no_longer_dumpable() {
        super::forbid().expect("prctl");
        assert!(!nix::sys::prctl::get_dumpable().expect("prctl"));
    }
}

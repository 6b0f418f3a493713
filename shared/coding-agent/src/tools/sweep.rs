//! Finding the processes a command started that left its process group.
//!
//! `setsid`, `nohup … &` into a new session, or a daemonising server put a
//! process outside the group [`super::command`] kills. Every command gets a
//! tag of its own in its environment ([`TAG_VAR`]), which its descendants
//! inherit whatever group or session they move to; [`kill_tagged`] reads
//! `/proc/<pid>/environ` of every process it may read and kills those
//! carrying the tag. A process that rebuilds its environment without the tag
//! and leaves the session is not found: this is a clean-up, not a sandbox.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The variable carrying a command's tag.
pub(crate) const TAG_VAR: &str = "AGENT_RUNNER_COMMAND";
/// Rounds of scanning: a process forking while it is scanned is found on
/// the next round.
const ROUNDS: usize = 5;

/// Kills (SIGKILL) every process whose environment holds
/// `AGENT_RUNNER_COMMAND=<tag>`; returns how many were signalled.
pub(crate) fn kill_tagged(tag: &str) -> usize {
    let wanted = format!("{TAG_VAR}={tag}");
    let own = std::process::id();
    let mut killed = 0;
    for _ in 0..ROUNDS {
        let found = tagged(&wanted, own);
        if found.is_empty() {
            break;
        }
        for pid in found {
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
    }
    killed
}

/// The pids (not `own`) whose environment holds the entry `wanted`.
fn tagged(wanted: &str, own: u32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| u32::try_from(*pid).ok() != Some(own))
        .filter(|pid| {
            // Unreadable (another user's, or gone): not ours to kill.
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ
                    .split(|b| *b == 0)
                    .any(|entry| entry == wanted.as_bytes())
            }) && !is_zombie(*pid)
        })
        .collect()
}

/// Whether `pid` has exited and waits to be reaped (killing it again is
/// useless).
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            == Some("Z")
    })
}

//! CPU accounting from `/proc`: the bench client's own CPU time
//! (`/proc/self/stat`), the machine's busy and iowait shares (`/proc/stat`),
//! and a sampler that attributes CPU time over a window to postgres,
//! rabbitmq (`beam.smp`), the api, the workers, the bench client and
//! everything else, so a report can say which resource saturates.

use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How often the sampler walks `/proc`.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`, 100 on Linux).
pub fn ticks_per_s() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// Logical CPUs of the machine.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}

/// `comm` and user+system ticks of a process, from `/proc/<pid>/stat` text.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    // The command name is in parentheses and may itself contain spaces or ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    // After ")": state is field 3, utime field 14, stime field 15.
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

fn process_stat(pid: u32) -> Option<(String, u64)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU seconds this process has used so far.
pub fn self_cpu_s(ticks_per_s: f64) -> f64 {
    process_stat(std::process::id()).map_or(0.0, |(_, ticks)| ticks as f64 / ticks_per_s)
}

/// Machine-wide jiffies from the first line of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineTimes {
    /// All jiffies.
    pub total: u64,
    /// Idle jiffies.
    pub idle: u64,
    /// Jiffies spent idle while waiting for I/O.
    pub iowait: u64,
}

impl MachineTimes {
    /// Reads `/proc/stat` (zeros when it cannot).
    pub fn now() -> Self {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| parse_machine(&s))
            .unwrap_or_default()
    }
}

fn parse_machine(stat: &str) -> Option<MachineTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest times are inside user).
    let total = v.iter().take(8).sum();
    Some(MachineTimes {
        total,
        idle: *v.get(3)?,
        iowait: *v.get(4)?,
    })
}

/// Which process is which, for attribution.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    /// The api's pid.
    pub api: Option<u32>,
    /// The workers' pids.
    pub workers: Vec<u32>,
}

fn group_of(pid: u32, comm: &str, roles: &Roles, me: u32) -> &'static str {
    if Some(pid) == roles.api {
        "api"
    } else if roles.workers.contains(&pid) {
        "workers"
    } else if pid == me {
        "bench_client"
    } else if comm == "postgres" {
        "postgres"
    } else if comm == "beam.smp" || comm == "erl_child_setup" || comm == "epmd" {
        "rabbitmq"
    } else {
        "other"
    }
}

/// CPU use over a window, in cores (CPU seconds per wall second).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUsage {
    /// Length of the window.
    pub wall_s: f64,
    /// Logical CPUs.
    pub cores: usize,
    /// Share of all CPUs that was busy (0..1).
    pub machine_busy: f64,
    /// Share of all CPU time spent idle waiting on I/O (0..1).
    pub machine_iowait: f64,
    /// Cores used per group: postgres, rabbitmq, api, workers, bench_client, other.
    pub cores_used: HashMap<&'static str, f64>,
}

impl CpuUsage {
    /// The group that used the most CPU, with its cores.
    pub fn top(&self) -> Option<(&'static str, f64)> {
        self.cores_used
            .iter()
            .map(|(g, c)| (*g, *c))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// A sentence naming the saturated resource, or saying none is.
    pub fn verdict(&self) -> String {
        let busy = self.machine_busy * 100.0;
        let iowait = self.machine_iowait * 100.0;
        let top = self.top().map_or(String::new(), |(g, c)| {
            format!("; the largest user is {g} ({c:.2} cores)")
        });
        if self.machine_busy >= 0.85 {
            format!("CPU: all {} cores are {busy:.0}% busy{top}", self.cores)
        } else if self.machine_iowait >= 0.2 {
            format!(
                "disk: {iowait:.0}% of CPU time waits on I/O (commit fsyncs), CPU {busy:.0}% busy{top}"
            )
        } else {
            format!("none saturated: CPU {busy:.0}% busy, iowait {iowait:.0}%{top}")
        }
    }
}

/// Samples `/proc` in the background until [`Sampler::finish`].
#[derive(Debug)]
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<CpuUsage>,
}

impl Sampler {
    /// Starts sampling now.
    pub fn start(roles: Roles) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::task::spawn_blocking(move || sample_until(roles, stopped));
        Self { stop, task }
    }

    /// Stops sampling and returns the usage over the window.
    pub async fn finish(self) -> CpuUsage {
        let _gone = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

fn sample_until(roles: Roles, mut stopped: oneshot::Receiver<()>) -> CpuUsage {
    let ticks = ticks_per_s();
    let me = std::process::id();
    let start = Instant::now();
    let machine_start = MachineTimes::now();
    // pid -> (group, ticks at first sight or 0 if born during the window, last ticks).
    let mut seen: HashMap<u32, (&'static str, u64, u64)> = HashMap::new();
    let mut first = true;
    loop {
        for (pid, comm, t) in all_processes() {
            let group = group_of(pid, &comm, &roles, me);
            let entry = seen
                .entry(pid)
                .or_insert((group, if first { t } else { 0 }, t));
            entry.2 = t;
        }
        first = false;
        match stopped.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => std::thread::sleep(SAMPLE_EVERY),
            _ => break,
        }
    }
    let wall_s = start.elapsed().as_secs_f64().max(1e-9);
    let machine_end = MachineTimes::now();
    let total = machine_end.total.saturating_sub(machine_start.total).max(1) as f64;
    let idle = machine_end.idle.saturating_sub(machine_start.idle) as f64;
    let iowait = machine_end.iowait.saturating_sub(machine_start.iowait) as f64;
    let mut cores_used: HashMap<&'static str, f64> = HashMap::new();
    for (group, first_t, last_t) in seen.values() {
        *cores_used.entry(group).or_default() +=
            last_t.saturating_sub(*first_t) as f64 / ticks / wall_s;
    }
    CpuUsage {
        wall_s,
        cores: cores(),
        machine_busy: ((total - idle - iowait) / total).clamp(0.0, 1.0),
        machine_iowait: (iowait / total).clamp(0.0, 1.0),
        cores_used,
    }
}

fn all_processes() -> Vec<(u32, String, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| process_stat(pid).map(|(comm, t)| (pid, comm, t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_spaces_in_the_name_parses() {
        let stat = "42 (beam (smp)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 30 0 1000";
        assert_eq!(parse_stat(stat), Some(("beam (smp)".to_owned(), 300)));
    }

    #[test]
    fn machine_times_come_from_the_cpu_line() {
        let stat = "cpu  100 5 50 800 40 1 2 2 0 0\ncpu0 50 2 25 400 20 0 1 1 0 0\n";
        let m = parse_machine(stat).expect("parses");
        assert_eq!((m.total, m.idle, m.iowait), (1000, 800, 40));
    }

    #[test]
    fn this_process_is_counted_as_the_bench_client() {
        assert_eq!(
            group_of(7, "agent-runner-be", &Roles::default(), 7),
            "bench_client"
        );
        assert_eq!(group_of(8, "postgres", &Roles::default(), 7), "postgres");
    }
}

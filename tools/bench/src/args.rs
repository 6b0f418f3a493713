//! Command-line options of `agent-runner-bench`: the workload (scenario, runs,
//! connections, workers) and where the system under test lives (binaries,
//! PostgreSQL, RabbitMQ). Parsing only; nothing here touches a service.

use clap::{Parser, Subcommand, ValueEnum};
use std::fmt;
use std::path::PathBuf;

/// Runs the reference workload of agent-runner against its release binaries,
/// each time in a fresh database and under a fresh queue prefix.
#[derive(Debug, Clone, Parser)]
#[command(name = "agent-runner-bench", version, about)]
pub struct Args {
    /// Instead of a bench: summarise two builds' runs.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Runs to submit. Default per scenario: lifecycle-5 5000, scale-out 2000
    /// per step, idle-pickup 50, backlog-drain 20000; fairness: the big
    /// project's runs, 5000; long-runs: the long runs held together, 2000.
    #[arg(long)]
    pub runs: Option<u64>,
    /// Concurrent HTTP/1.1 keep-alive connections submitting runs.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub connections: u32,
    /// Worker processes (scale-out uses --worker-steps instead). Default: 4
    /// for long-runs, 2 otherwise.
    #[arg(long = "workers", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers_arg: Option<u32>,
    /// Runs each worker executes at once (`WORKER_CONCURRENCY`). Default: 500
    /// for long-runs, 8 otherwise.
    #[arg(long = "concurrency", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub concurrency_arg: Option<u16>,
    /// The workload to run.
    #[arg(long, value_enum, default_value_t = Scenario::Lifecycle5)]
    pub scenario: Scenario,
    /// Worker counts scale-out steps through.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub worker_steps: Vec<u32>,
    /// fairness: runs of the small project, submitted right after the big
    /// project's.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    pub small_runs: u64,
    /// fairness: the simulated agent's pause after each of its three steps,
    /// so that runs hold their worker slot a while (every other scenario
    /// uses 0).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub step_delay_ms: u64,
    /// fairness: the variants to measure, each in a fresh environment.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "fifo,fair-share"
    )]
    pub variants: Vec<FairnessVariant>,
    /// long-runs: how long each long run holds its worker slot, seconds (the
    /// simulated agent pauses a third of it after each of its three steps).
    /// At most 540: the api's default attempt deadline is 600 s.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(20..=540))]
    pub hold_s: u64,
    /// long-runs: short runs (no step delay) submitted per second, open loop,
    /// while the long runs are held and, for the baseline, on the idle system.
    #[arg(long, default_value_t = 20.0)]
    pub short_rate: f64,
    /// fixed-load: runs submitted per second, open loop.
    #[arg(long, default_value_t = 400.0)]
    pub rate: f64,
    /// fixed-load: how long runs keep arriving, seconds.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub duration_s: u64,
    /// long-runs: `HEARTBEAT_S` of the workers, so the expected lease writes
    /// (held runs / `HEARTBEAT_S`) are known. At most 7: half the default
    /// `LEASE_S` of 15.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=7))]
    pub heartbeat_s: u64,
    /// long-runs: `DB_POOL_SIZE` of each worker. The worker's own default,
    /// concurrency + 4, would let 4 workers of 500 open 2016 connections;
    /// PostgreSQL's default `max_connections` is 100.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(2..=1000))]
    pub worker_db_pool: u16,
    /// Directory holding `agent-runner-api` and `agent-runner-worker`
    /// (`scripts/bench` sets it to the release directory of
    /// `CARGO_TARGET_DIR`).
    #[arg(
        long,
        env = "AGENT_RUNNER_BENCH_BIN_DIR",
        default_value = "target/release"
    )]
    pub bin_dir: PathBuf,
    /// Directory the api and worker logs are written to.
    #[arg(long, default_value = "target/bench-logs")]
    pub log_dir: PathBuf,
    /// A PostgreSQL URL allowed to create and drop databases (by default the
    /// `agent_runner` role the scripts create, which has CREATEDB and a
    /// password, so it also logs in where TCP connections need one).
    #[arg(
        long,
        default_value = "postgres://agent_runner:agent_runner@127.0.0.1:5432/postgres"
    )]
    pub database_admin_url: String,
    /// RabbitMQ; the bench declares nothing itself, the api and workers do so
    /// under a fresh prefix.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub amqp_url: String,
    /// RabbitMQ management api, to see consumers and delete the bench's queues.
    #[arg(long, default_value = "http://guest:guest@127.0.0.1:15672")]
    pub rabbitmq_mgmt_url: String,
    /// Keep the bench database and queues afterwards (for inspection).
    #[arg(long)]
    pub keep: bool,
}

impl Args {
    /// The run count: `--runs`, or the scenario's default.
    pub fn runs(&self) -> u64 {
        self.runs.unwrap_or(match self.scenario {
            Scenario::Lifecycle5 => 5000,
            Scenario::ScaleOut => 2000,
            Scenario::IdlePickup => 50,
            Scenario::BacklogDrain => 20_000,
            Scenario::Fairness => 5000,
            Scenario::LongRuns => 2000,
            Scenario::FixedLoad => (self.rate * self.duration_s as f64).round() as u64,
        })
    }

    /// The worker count: `--workers`, or the scenario's default.
    pub fn workers(&self) -> u32 {
        self.workers_arg.unwrap_or(match self.scenario {
            Scenario::LongRuns => 4,
            _ => 2,
        })
    }

    /// `WORKER_CONCURRENCY`: `--concurrency`, or the scenario's default.
    pub fn concurrency(&self) -> u16 {
        self.concurrency_arg.unwrap_or(match self.scenario {
            Scenario::LongRuns => 500,
            _ => 8,
        })
    }
}

/// What the binary does other than running a scenario.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Compares two files of JSON lines (one build's runs each, as
    /// `scripts/bench --compare-to` writes them): values, medians and the
    /// ratios HEAD / BASE. Each build is named by its file's stem.
    Compare {
        /// The runs of the build compared against.
        base: PathBuf,
        /// The runs of the build under test.
        head: PathBuf,
    },
}

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// N runs through C connections while W workers execute them.
    #[value(name = "lifecycle-5")]
    Lifecycle5,
    /// lifecycle-5 with 1, 2 and 4 workers.
    ScaleOut,
    /// One run at a time on an idle system.
    IdlePickup,
    /// N runs queued with no worker, then the workers start.
    BacklogDrain,
    /// A big project's backlog and a small project's few runs right after it.
    Fairness,
    /// Thousands of long runs held in flight while short runs keep arriving.
    LongRuns,
    /// Runs arriving at a fixed rate (open loop), well below saturation.
    FixedLoad,
}

impl Scenario {
    /// The name used on the command line and in the JSON line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Lifecycle5 => "lifecycle-5",
            Scenario::ScaleOut => "scale-out",
            Scenario::IdlePickup => "idle-pickup",
            Scenario::BacklogDrain => "backlog-drain",
            Scenario::Fairness => "fairness",
            Scenario::LongRuns => "long-runs",
            Scenario::FixedLoad => "fixed-load",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the fairness scenario's api schedules the two projects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FairnessVariant {
    /// `FAIR_SHARE=false` on the api and no project limit: first come, first
    /// served, as before the scheduler.
    Fifo,
    /// The api's defaults: contending projects are held to their weighted
    /// fair share (equal weights).
    FairShare,
    /// The api's defaults, and the big project has `max_concurrent_runs` of
    /// half the worker slots.
    BigLimit,
}

impl FairnessVariant {
    /// The name used on the command line and in the JSON line.
    pub fn as_str(self) -> &'static str {
        match self {
            FairnessVariant::Fifo => "fifo",
            FairnessVariant::FairShare => "fair-share",
            FairnessVariant::BigLimit => "big-limit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_reference_workload() {
        let args = Args::parse_from(["agent-runner-bench"]);
        assert_eq!(args.scenario, Scenario::Lifecycle5);
        assert_eq!(args.runs(), 5000);
        assert_eq!(args.connections, 64);
        assert_eq!(args.workers(), 2);
        assert_eq!(args.concurrency(), 8);
    }

    #[test]
    fn long_runs_holds_two_thousand_runs_on_four_workers_of_five_hundred() {
        let args = Args::parse_from(["agent-runner-bench", "--scenario", "long-runs"]);
        assert_eq!(args.runs(), 2000);
        assert_eq!((args.workers(), args.concurrency()), (4, 500));
        assert_eq!(
            (args.hold_s, args.short_rate, args.heartbeat_s),
            (60, 20.0, 5)
        );
        let args = Args::parse_from([
            "agent-runner-bench",
            "--scenario",
            "long-runs",
            "--workers",
            "2",
            "--concurrency",
            "100",
        ]);
        assert_eq!((args.workers(), args.concurrency()), (2, 100));
    }

    #[test]
    fn each_scenario_has_its_own_default_run_count() {
        let args = Args::parse_from(["agent-runner-bench", "--scenario", "scale-out"]);
        assert_eq!(args.runs(), 2000);
        assert_eq!(args.worker_steps, vec![1, 2, 4]);
        let args = Args::parse_from([
            "agent-runner-bench",
            "--scenario",
            "backlog-drain",
            "--runs",
            "7",
        ]);
        assert_eq!(args.runs(), 7);
    }

    #[test]
    fn compare_takes_the_base_then_the_head_file() {
        let args = Args::parse_from(["agent-runner-bench", "compare", "a.jsonl", "b.jsonl"]);
        let Some(Command::Compare { base, head }) = args.command else {
            panic!("not the compare subcommand");
        };
        assert_eq!((base, head), ("a.jsonl".into(), "b.jsonl".into()));
        assert!(Args::parse_from(["agent-runner-bench"]).command.is_none());
    }

    #[test]
    fn fairness_compares_fifo_with_fair_share_by_default() {
        let args = Args::parse_from(["agent-runner-bench", "--scenario", "fairness"]);
        assert_eq!(args.runs(), 5000);
        assert_eq!(args.small_runs, 50);
        assert_eq!(
            args.variants,
            vec![FairnessVariant::Fifo, FairnessVariant::FairShare]
        );
        let args = Args::parse_from(["agent-runner-bench", "--variants", "big-limit,fifo"]);
        assert_eq!(
            args.variants,
            vec![FairnessVariant::BigLimit, FairnessVariant::Fifo]
        );
    }
}

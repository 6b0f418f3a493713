//! The worker's settings, read once from the environment at start-up.

use agent_runner_config::{ConfigError, Env};
use agent_runner_queue::BrokerAddress;
use std::net::SocketAddr;
use std::time::Duration;

/// Settings of one worker process.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `DB_POOL_SIZE` (defaults to concurrency + 4, at most 32: claims and
    /// endings are batched, so connections are not held per run).
    pub db_pool_size: usize,
    /// `AMQP_URL` (its vhost is honoured) and, for `amqps://`,
    /// `AMQP_CA_FILE`, `AMQP_CLIENT_CERT_FILE` and `AMQP_CLIENT_KEY_FILE`.
    pub broker: BrokerAddress,
    /// `QUEUE_PREFIX`.
    pub queue_prefix: String,
    /// `WORKER_ID` (default `<hostname>-<pid>`): in the consumer tag,
    /// connection name and `runs.worker_id`.
    pub worker_id: String,
    /// `WORKER_CONCURRENCY`: prefetch, i.e. runs executed at once.
    pub concurrency: u16,
    /// `WORKER_METRICS_ADDR`: `/healthz` and `/metrics` (port 0 picks a
    /// free port; unset, 127.0.0.1:9090 or a free port when that is taken).
    pub metrics_addr: SocketAddr,
    /// Whether `WORKER_METRICS_ADDR` was set (a taken port is then an error).
    pub metrics_addr_set: bool,
    /// `LEASE_S`: how long a claim holds without a heartbeat.
    pub lease: Duration,
    /// `HEARTBEAT_S`: how often leases are renewed.
    pub heartbeat: Duration,
    /// `RUN_LEASE_S` (default 600): how long a run's own lease lasts; it is
    /// renewed when half of it is left, and only brings back a run this
    /// (live) worker no longer holds. The worker's lease, `LEASE_S`, is what
    /// lets another worker take over when this one dies.
    pub run_lease: Duration,
    /// `RETRY_BASE_MS`: first retry tier.
    pub retry_base_ms: u64,
    /// `RETRY_TIERS`: number of doubling retry tiers.
    pub retry_tiers: u32,
    /// `DELIVERY_LIMIT`: deliveries before the work queue dead-letters.
    pub delivery_limit: i64,
    /// `SHUTDOWN_GRACE_S`: time in-flight runs get to finish on SIGTERM.
    pub shutdown_grace: Duration,
    /// `SIMULATED_CRASH_FAULTS`: lets simulated runs with `fail: "crash"`
    /// abort this process (fault injection; off by default).
    pub simulated_crash_faults: bool,
}

impl WorkerConfig {
    /// Reads the settings; the error names the variable at fault.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let concurrency: u16 = env.parse_in("WORKER_CONCURRENCY", 8, 1, 1000)?;
        let lease_s: u64 = env.parse_in("LEASE_S", 15, 1, 3600)?;
        let heartbeat_s: f64 = env.parse_in("HEARTBEAT_S", 5.0, 0.1, 600.0)?;
        if heartbeat_s * 2.0 > lease_s as f64 {
            return Err(ConfigError {
                var: "HEARTBEAT_S".into(),
                message: format!("must be at most half of LEASE_S ({lease_s})"),
            });
        }
        let run_lease_s: u64 = env.parse_in("RUN_LEASE_S", 600, 1, 86_400)?;
        if run_lease_s < lease_s {
            return Err(ConfigError {
                var: "RUN_LEASE_S".into(),
                message: format!("must be at least LEASE_S ({lease_s})"),
            });
        }
        let default_id = format!("{}-{}", agent_runner_config::hostname(), std::process::id());
        Ok(Self {
            database_url: env.url(
                "DATABASE_URL",
                "postgres://agent_runner:agent_runner@127.0.0.1:5432/agent_runner",
                &["postgres", "postgresql"],
            )?,
            db_pool_size: env.parse_in(
                "DB_POOL_SIZE",
                (usize::from(concurrency) + 4).min(32),
                2,
                1000,
            )?,
            broker: BrokerAddress::from_env(env)?,
            queue_prefix: env.string_checked(
                "QUEUE_PREFIX",
                "agent_runner",
                agent_runner_queue::names::check_prefix,
            )?,
            worker_id: env.string("WORKER_ID", &default_id),
            concurrency,
            metrics_addr: env.parse(
                "WORKER_METRICS_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 9090)),
            )?,
            metrics_addr_set: env.raw("WORKER_METRICS_ADDR").is_some(),
            lease: Duration::from_secs(lease_s),
            heartbeat: Duration::from_secs_f64(heartbeat_s),
            run_lease: Duration::from_secs(run_lease_s),
            retry_base_ms: env.parse_in("RETRY_BASE_MS", 1000, 10, 3_600_000)?,
            retry_tiers: env.parse_in("RETRY_TIERS", 10, 1, 20)?,
            delivery_limit: env.parse_in("DELIVERY_LIMIT", 5, 1, 1000)?,
            shutdown_grace: Duration::from_secs(env.parse_in("SHUTDOWN_GRACE_S", 30, 0, 3600)?),
            simulated_crash_faults: env.parse("SIMULATED_CRASH_FAULTS", false)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_locally() {
        let config = WorkerConfig::from_env(&Env::from_map::<&str, &str>([])).expect("defaults");
        assert_eq!(config.concurrency, 8);
        assert_eq!(config.db_pool_size, 12);
    }

    #[test]
    fn a_malformed_broker_setting_or_prefix_names_its_variable() {
        for (var, value) in [
            ("AMQP_URL", "amqp://mq:notaport/"),
            ("AMQP_CA_FILE", "/nonexistent/ca.pem"),
            ("QUEUE_PREFIX", "two words"),
        ] {
            let err = WorkerConfig::from_env(&Env::from_map([(var, value)])).expect_err(value);
            assert_eq!(err.var, var, "{value}");
        }
    }

    #[test]
    fn zero_concurrency_names_worker_concurrency() {
        let err =
            WorkerConfig::from_env(&Env::from_map([("WORKER_CONCURRENCY", "0")])).expect_err("bad");
        assert_eq!(err.var, "WORKER_CONCURRENCY");
    }

    #[test]
    fn a_heartbeat_too_slow_for_the_lease_is_refused() {
        let err = WorkerConfig::from_env(&Env::from_map([("LEASE_S", "4"), ("HEARTBEAT_S", "3")]))
            .expect_err("bad");
        assert_eq!(err.var, "HEARTBEAT_S");
    }
}

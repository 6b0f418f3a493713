//! The api's settings, read once from the environment at start-up.

use crate::http::session_cookie::CookieSecurity;
use agent_runner_config::{ConfigError, Env};
use agent_runner_queue::BrokerAddress;
use std::net::SocketAddr;

/// Settings of the api process.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `DATABASE_URL`: Postgres connection string.
    pub database_url: String,
    /// `DB_POOL_SIZE`: connections in the pool.
    pub db_pool_size: usize,
    /// `AMQP_URL` (its vhost is honoured) and, for `amqps://`,
    /// `AMQP_CA_FILE`, `AMQP_CLIENT_CERT_FILE` and `AMQP_CLIENT_KEY_FILE`.
    pub broker: BrokerAddress,
    /// `API_ADDR`: where to listen (port 0 picks a free port).
    pub addr: SocketAddr,
    /// `QUEUE_PREFIX`: prefix of every exchange and queue.
    pub queue_prefix: String,
    /// `RETRY_BASE_MS`: first retry tier (declared with the topology).
    pub retry_base_ms: u64,
    /// `RETRY_TIERS`: number of doubling retry tiers.
    pub retry_tiers: u32,
    /// `DELIVERY_LIMIT`: deliveries before the work queue dead-letters a message.
    pub delivery_limit: i64,
    /// `RUN_TIMEOUT_DEFAULT_S`: attempt deadline when a run does not give one.
    pub run_timeout_default_s: i64,
    /// `RUN_TIMEOUT_MAX_S`: largest deadline a run may ask for.
    pub run_timeout_max_s: i64,
    /// `MAX_BODY_BYTES`: largest request body accepted.
    pub max_body_bytes: usize,
    /// `HEADER_READ_TIMEOUT_S`: how long a connection may take to send a
    /// request's headers, and stay idle between requests, before it is cut.
    pub header_read_timeout_s: u64,
    /// `BODY_READ_TIMEOUT_S`: how long a request's body may take to arrive
    /// (408 past it).
    pub body_read_timeout_s: u64,
    /// `AUTH_FAILURES_PER_MINUTE`: failed authentications one client
    /// address may make per minute before it gets 429 (0: no limit).
    pub auth_failures_per_minute: u32,
    /// `AGENT_ALLOW_LOCAL_REPOS`: whether projects may name repositories on
    /// the workers' machines (`file://`, absolute paths) and plain `http://`.
    pub allow_local_repos: bool,
    /// `RELAY_INTERVAL_MS`: how often the outbox relay looks for leftovers.
    pub relay_interval_ms: u64,
    /// `REAPER_INTERVAL_MS`: how often the reaper looks for orphaned runs.
    pub reaper_interval_ms: u64,
    /// `REAPER_LEASE_GRACE_S`: seconds past an expired lease before a
    /// RUNNING run counts as orphaned.
    pub reaper_lease_grace_s: u64,
    /// `REAPER_QUEUED_AFTER_S`: seconds a published QUEUED or RETRYING run
    /// may wait unstarted before its message is published again.
    pub reaper_queued_after_s: u64,
    /// `SHUTDOWN_GRACE_S`: time in-flight requests get to finish on SIGTERM.
    pub shutdown_grace_s: u64,
    /// `REQUEST_WAIT_MS`: how long approve, reject and exec wait for the
    /// worker's answer before answering 202 with a URL to poll.
    pub request_wait_ms: u64,
    /// `STALL_AFTER_S`: how long a RUNNING run may emit nothing before the
    /// reaper marks it RUN_STALLED (it is not failed).
    pub stall_after_s: u64,
    /// `DEFAULT_MAX_CONCURRENT_RUNS`: how many runs of a project that sets no
    /// `settings.max_concurrent_runs` may run at once (0, the default: no
    /// limit).
    pub default_max_concurrent_runs: u32,
    /// `SCHEDULER_INTERVAL_MS`: how often the fair shares are recomputed and
    /// parked runs with a free slot woken.
    pub scheduler_interval_ms: u64,
    /// `FAIR_SHARE`: whether projects contending for the workers are held to
    /// their weighted share (`true`, the default). `false` leaves them first
    /// come, first served; project limits still hold. For comparisons such
    /// as the fairness benchmark; every api replica should say the same.
    pub fair_share: bool,
    /// `CONSOLE_SESSION_TTL_S`: how long a console sign-in lasts.
    pub console_session_ttl_s: u64,
    /// `CONSOLE_SECURE_COOKIE`: `auto` (the default: `Secure` when the
    /// request came through an https proxy, `X-Forwarded-Proto: https`),
    /// `true` or `false`.
    pub console_secure_cookie: CookieSecurity,
}

impl ApiConfig {
    /// Reads the settings; the error names the variable at fault.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let config = Self {
            database_url: env.url(
                "DATABASE_URL",
                "postgres://agent_runner:agent_runner@127.0.0.1:5432/agent_runner",
                &["postgres", "postgresql"],
            )?,
            db_pool_size: env.parse_in("DB_POOL_SIZE", 16, 1, 1000)?,
            broker: BrokerAddress::from_env(env)?,
            addr: env.parse("API_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            queue_prefix: env.string_checked(
                "QUEUE_PREFIX",
                "agent_runner",
                agent_runner_queue::names::check_prefix,
            )?,
            retry_base_ms: env.parse_in("RETRY_BASE_MS", 1000, 10, 3_600_000)?,
            retry_tiers: env.parse_in("RETRY_TIERS", 10, 1, 20)?,
            delivery_limit: env.parse_in("DELIVERY_LIMIT", 5, 1, 1000)?,
            run_timeout_default_s: env.parse_in("RUN_TIMEOUT_DEFAULT_S", 600, 1, 86_400)?,
            run_timeout_max_s: env.parse_in("RUN_TIMEOUT_MAX_S", 3600, 1, 86_400)?,
            max_body_bytes: env.parse_in("MAX_BODY_BYTES", 64 * 1024, 1024, 64 * 1024 * 1024)?,
            header_read_timeout_s: env.parse_in("HEADER_READ_TIMEOUT_S", 30, 1, 3600)?,
            body_read_timeout_s: env.parse_in("BODY_READ_TIMEOUT_S", 30, 1, 3600)?,
            auth_failures_per_minute: env.parse_in("AUTH_FAILURES_PER_MINUTE", 30, 0, 1_000_000)?,
            allow_local_repos: env.parse("AGENT_ALLOW_LOCAL_REPOS", false)?,
            relay_interval_ms: env.parse_in("RELAY_INTERVAL_MS", 1000, 10, 60_000)?,
            shutdown_grace_s: env.parse_in("SHUTDOWN_GRACE_S", 30, 0, 3600)?,
            reaper_interval_ms: env.parse_in("REAPER_INTERVAL_MS", 5000, 100, 3_600_000)?,
            reaper_lease_grace_s: env.parse_in("REAPER_LEASE_GRACE_S", 30, 0, 86_400)?,
            reaper_queued_after_s: env.parse_in("REAPER_QUEUED_AFTER_S", 900, 1, 604_800)?,
            request_wait_ms: env.parse_in("REQUEST_WAIT_MS", 10_000, 0, 600_000)?,
            stall_after_s: env.parse_in("STALL_AFTER_S", 600, 1, 604_800)?,
            default_max_concurrent_runs: env.parse_in(
                "DEFAULT_MAX_CONCURRENT_RUNS",
                0,
                0,
                agent_runner_domain::scheduling::MAX_CONCURRENT_RUNS_LIMIT as u32,
            )?,
            scheduler_interval_ms: env.parse_in("SCHEDULER_INTERVAL_MS", 1000, 50, 60_000)?,
            fair_share: env.parse("FAIR_SHARE", true)?,
            console_session_ttl_s: env.parse_in("CONSOLE_SESSION_TTL_S", 43_200, 60, 2_592_000)?,
            console_secure_cookie: env.parse("CONSOLE_SECURE_COOKIE", CookieSecurity::Auto)?,
        };
        if config.run_timeout_default_s > config.run_timeout_max_s {
            return Err(ConfigError {
                var: "RUN_TIMEOUT_DEFAULT_S".into(),
                message: format!(
                    "must not exceed RUN_TIMEOUT_MAX_S ({})",
                    config.run_timeout_max_s
                ),
            });
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_locally() {
        let config = ApiConfig::from_env(&Env::from_map::<&str, &str>([])).expect("defaults");
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.queue_prefix, "agent_runner");
    }

    #[test]
    fn a_malformed_address_names_api_addr() {
        let err =
            ApiConfig::from_env(&Env::from_map([("API_ADDR", "localhost")])).expect_err("bad");
        assert_eq!(err.var, "API_ADDR");
    }

    #[test]
    fn fair_share_is_on_unless_turned_off() {
        let on = ApiConfig::from_env(&Env::from_map::<&str, &str>([])).expect("defaults");
        assert!(on.fair_share);
        let off = ApiConfig::from_env(&Env::from_map([("FAIR_SHARE", "false")])).expect("off");
        assert!(!off.fair_share);
        let err = ApiConfig::from_env(&Env::from_map([("FAIR_SHARE", "off")])).expect_err("bad");
        assert_eq!(err.var, "FAIR_SHARE");
    }

    #[test]
    fn a_non_amqp_url_names_amqp_url() {
        let err =
            ApiConfig::from_env(&Env::from_map([("AMQP_URL", "redis://x")])).expect_err("bad");
        assert_eq!(err.var, "AMQP_URL");
    }
}

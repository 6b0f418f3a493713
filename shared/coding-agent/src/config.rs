//! Typed configuration of the `llm` agent, read from the environment in one
//! place (`CodingAgentConfig::from_env`) with defaults that work against a
//! local Ollama.
//!
//! The API key is never printed: `Debug` shows it as `<redacted>`.

use crate::sandbox::SandboxConfig;
pub use agent_runner_domain::llm_settings::MAX_ITERATIONS_LIMIT;
use agent_runner_domain::llm_settings::check_base_url;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where the model is served and how to talk to it.
#[derive(Clone, PartialEq, Eq)]
pub struct LlmConfig {
    /// Base URL of an OpenAI-compatible API, e.g. `http://127.0.0.1:11434/v1`;
    /// requests go to `{base_url}/chat/completions`.
    pub base_url: String,
    /// Model name sent with every request.
    pub model: String,
    /// Bearer token, if the endpoint wants one. Never logged.
    pub api_key: Option<String>,
    /// Longest a single chat-completions request may take (connect, generate
    /// and read), before it counts as a timeout and is retried.
    pub request_timeout: Duration,
    /// Retries of failed requests.
    pub retry: RetryConfig,
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// How failed chat-completions requests are retried: exponential backoff with
/// jitter (through `backon`), honouring `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt for 429, 5xx, timeouts and dropped
    /// connections.
    pub max_retries: usize,
    /// Retries when the endpoint can not be connected to at all (connection
    /// refused, unknown host). Kept small so that a missing server fails the
    /// run in seconds.
    pub connect_retries: usize,
    /// First backoff delay (jitter adds up to as much again).
    pub min_delay: Duration,
    /// Largest backoff delay.
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured; a longer one ends the retries.
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 4,
            connect_retries: 1,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Everything the `llm` agent needs, for all runs of a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodingAgentConfig {
    /// The model endpoint.
    pub llm: LlmConfig,
    /// Holds `mirrors/<project-id>.git`, `runs/<run-id>` and `locks/`.
    pub workspace_root: PathBuf,
    /// LLM calls per run.
    pub max_iterations: u32,
    /// Total tokens (prompt + completion, summed over calls) per run.
    pub token_budget: u64,
    /// `run_command` timeout when the model gives none.
    pub command_timeout_default: Duration,
    /// Largest `run_command` timeout the model may ask for.
    pub command_timeout_max: Duration,
    /// Bytes of tool output shown to the model per call.
    pub output_cap: usize,
    /// Bytes of diff kept in the run's result.
    pub diff_cap: usize,
    /// Largest branch snapshot (git bundle) stored in Postgres per run; a
    /// larger one is not stored and only this worker can continue the run.
    pub snapshot_cap: usize,
    /// Whether a run's `params.base_url` (and `params.api_key`) may point the
    /// run at another endpoint: one switch for every run of the worker
    /// (`AGENT_ALLOW_BASE_URL_OVERRIDE`). That only admins can submit such
    /// params is the api's check, not this one's.
    pub allow_base_url_override: bool,
    /// Whether projects may name repositories on this machine (`file://`,
    /// absolute paths) and plain `http://` (`AGENT_ALLOW_LOCAL_REPOS`, as on
    /// the api): checked again here, as a row may not have come through the
    /// api.
    pub allow_local_repos: bool,
    /// How commands in worktrees are sandboxed (`AGENT_SANDBOX…`).
    pub sandbox: SandboxConfig,
    /// The limits every worker holds each model endpoint (and model) to,
    /// together (`LLM_RATE_LIMIT_RPM`, `LLM_RATE_LIMIT_TPM`).
    pub rate_limits: RateLimits,
}

/// Requests and tokens a minute per model endpoint and model, drawn from
/// one allowance shared by every worker (kept in PostgreSQL). Unset: no
/// limit; a 429's `Retry-After` is shared either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimits {
    /// Requests a minute, spaced evenly (`LLM_RATE_LIMIT_RPM`).
    pub requests_per_minute: Option<u32>,
    /// Tokens a minute, as the replies report them (`LLM_RATE_LIMIT_TPM`).
    pub tokens_per_minute: Option<u32>,
}

/// Default base URL: a local Ollama.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434/v1";
/// Default model.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder:7b";
/// Default LLM calls per run.
pub const DEFAULT_MAX_ITERATIONS: u32 = 30;
/// Default token budget per run.
pub const DEFAULT_TOKEN_BUDGET: u64 = 200_000;
/// Default largest branch snapshot, in bytes.
pub const DEFAULT_SNAPSHOT_CAP: usize = 32 * 1024 * 1024;
/// Largest `AGENT_SNAPSHOT_MAX_BYTES` accepted.
const SNAPSHOT_CAP_LIMIT: u64 = 512 * 1024 * 1024;
/// Largest `LLM_RATE_LIMIT_RPM` accepted (a request every 60 µs).
const RPM_LIMIT: u64 = 1_000_000;
/// Default request timeout, in seconds.
pub const DEFAULT_REQUEST_TIMEOUT_S: u64 = 120;

impl Default for CodingAgentConfig {
    fn default() -> Self {
        Self {
            llm: LlmConfig {
                base_url: DEFAULT_BASE_URL.to_owned(),
                model: DEFAULT_MODEL.to_owned(),
                api_key: None,
                request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_S),
                retry: RetryConfig::default(),
            },
            workspace_root: std::env::temp_dir().join("agent-runner-workspaces"),
            max_iterations: DEFAULT_MAX_ITERATIONS,
            token_budget: DEFAULT_TOKEN_BUDGET,
            command_timeout_default: Duration::from_secs(60),
            command_timeout_max: Duration::from_secs(600),
            output_cap: 16 * 1024,
            diff_cap: 512 * 1024,
            snapshot_cap: DEFAULT_SNAPSHOT_CAP,
            allow_base_url_override: false,
            allow_local_repos: false,
            sandbox: SandboxConfig::default(),
            rate_limits: RateLimits::default(),
        }
    }
}

/// A configuration variable holds a value that can not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    /// The environment variable.
    pub var: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl CodingAgentConfig {
    /// Reads `LLM_BASE_URL`, `LLM_MODEL`, `LLM_API_KEY`,
    /// `LLM_REQUEST_TIMEOUT_S`, `WORKSPACE_ROOT`, `AGENT_MAX_ITERATIONS`,
    /// `AGENT_TOKEN_BUDGET`, `AGENT_SNAPSHOT_MAX_BYTES`,
    /// `AGENT_ALLOW_BASE_URL_OVERRIDE`, `LLM_RATE_LIMIT_RPM`,
    /// `LLM_RATE_LIMIT_TPM` and the `AGENT_SANDBOX…` variables
    /// ([`SandboxConfig`]); anything
    /// unset keeps its default.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| {
            lookup(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut config = Self::default();
        if let Some(url) = get("LLM_BASE_URL") {
            config.llm.base_url = check_base_url(&url).map_err(|reason| ConfigError {
                var: "LLM_BASE_URL",
                reason,
            })?;
        }
        if let Some(model) = get("LLM_MODEL") {
            config.llm.model = model;
        }
        config.llm.api_key = get("LLM_API_KEY");
        if let Some(raw) = get("LLM_REQUEST_TIMEOUT_S") {
            config.llm.request_timeout =
                Duration::from_secs(positive("LLM_REQUEST_TIMEOUT_S", &raw, 3600)?);
        }
        if let Some(root) = get("WORKSPACE_ROOT") {
            config.workspace_root = PathBuf::from(root);
        }
        if let Some(raw) = get("AGENT_MAX_ITERATIONS") {
            let n = positive(
                "AGENT_MAX_ITERATIONS",
                &raw,
                u64::from(MAX_ITERATIONS_LIMIT),
            )?;
            config.max_iterations = u32::try_from(n).unwrap_or(MAX_ITERATIONS_LIMIT);
        }
        if let Some(raw) = get("AGENT_TOKEN_BUDGET") {
            config.token_budget = positive("AGENT_TOKEN_BUDGET", &raw, u64::MAX)?;
        }
        if let Some(raw) = get("AGENT_SNAPSHOT_MAX_BYTES") {
            let n = positive("AGENT_SNAPSHOT_MAX_BYTES", &raw, SNAPSHOT_CAP_LIMIT)?;
            config.snapshot_cap = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(raw) = get("AGENT_ALLOW_BASE_URL_OVERRIDE") {
            config.allow_base_url_override = switch("AGENT_ALLOW_BASE_URL_OVERRIDE", &raw)?;
        }
        if let Some(raw) = get("AGENT_ALLOW_LOCAL_REPOS") {
            config.allow_local_repos = switch("AGENT_ALLOW_LOCAL_REPOS", &raw)?;
        }
        if let Some(raw) = get("LLM_RATE_LIMIT_RPM") {
            let n = positive("LLM_RATE_LIMIT_RPM", &raw, RPM_LIMIT)?;
            config.rate_limits.requests_per_minute = u32::try_from(n).ok();
        }
        if let Some(raw) = get("LLM_RATE_LIMIT_TPM") {
            let n = positive("LLM_RATE_LIMIT_TPM", &raw, u64::from(u32::MAX))?;
            config.rate_limits.tokens_per_minute = u32::try_from(n).ok();
        }
        config.sandbox = SandboxConfig::from_lookup(get)?;
        Ok(config)
    }
}

/// A true/false variable.
fn switch(var: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(ConfigError {
            var,
            reason: format!("expected true or false, got `{raw}`"),
        }),
    }
}

fn positive(var: &'static str, raw: &str, max: u64) -> Result<u64, ConfigError> {
    match raw.parse::<u64>() {
        Ok(n) if n >= 1 && n <= max => Ok(n),
        _ => Err(ConfigError {
            var,
            reason: format!("expected a whole number between 1 and {max}, got `{raw}`"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<CodingAgentConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        CodingAgentConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_point_at_a_local_ollama() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.llm.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.max_iterations, 30);
        assert_eq!(c.llm.api_key, None);
    }

    #[test]
    fn an_invalid_value_names_its_variable() {
        let err = config(&[("AGENT_MAX_ITERATIONS", "many")]).expect_err("invalid");
        assert_eq!(err.var, "AGENT_MAX_ITERATIONS");
        let err = config(&[("LLM_BASE_URL", "ftp://x")]).expect_err("invalid");
        assert!(err.to_string().starts_with("LLM_BASE_URL:"));
        let err = config(&[("LLM_REQUEST_TIMEOUT_S", "0")]).expect_err("invalid");
        assert_eq!(err.var, "LLM_REQUEST_TIMEOUT_S");
        let err = config(&[("AGENT_SANDBOX", "maybe")]).expect_err("invalid");
        assert_eq!(err.var, "AGENT_SANDBOX");
        let err = config(&[("AGENT_SANDBOX_MEMORY_MIB", "0")]).expect_err("invalid");
        assert_eq!(err.var, "AGENT_SANDBOX_MEMORY_MIB");
    }

    #[test]
    fn rate_limits_are_unset_by_default_and_checked_by_name() {
        assert_eq!(
            config(&[]).expect("valid").rate_limits,
            RateLimits::default()
        );
        let c = config(&[
            ("LLM_RATE_LIMIT_RPM", "60"),
            ("LLM_RATE_LIMIT_TPM", "90000"),
        ])
        .expect("valid");
        assert_eq!(c.rate_limits.requests_per_minute, Some(60));
        assert_eq!(c.rate_limits.tokens_per_minute, Some(90000));
        for (var, raw) in [
            ("LLM_RATE_LIMIT_RPM", "0"),
            ("LLM_RATE_LIMIT_RPM", "fast"),
            ("LLM_RATE_LIMIT_TPM", "-1"),
        ] {
            let err = config(&[(var, raw)]).expect_err("refused");
            assert_eq!(err.var, var);
        }
    }

    #[test]
    fn the_api_key_is_redacted_in_debug_output() {
        let c = config(&[("LLM_API_KEY", "sk-secret")]).expect("valid");
        assert_eq!(c.llm.api_key.as_deref(), Some("sk-secret"));
        assert!(!format!("{c:?}").contains("sk-secret"));
    }
}

//! Per-run overrides of the agent's configuration: the run's `params` object
//! and the project's `settings`, checked by
//! [`agent_runner_domain::llm_settings`] (as the api checks them before a run
//! is accepted), layered here over the worker's configuration by
//! [`resolve`]. An endpoint override
//! (`base_url`, `api_key`) is honoured only when the worker allows it, and a
//! run pointed elsewhere never receives the configured API key.

use crate::config::{CodingAgentConfig, LlmConfig};
use agent_runner_domain::llm_settings::{LlmParams, check_base_url};
use serde_json::Value;
use std::time::Duration;

/// The effective settings of one attempt.
#[derive(Debug, Clone)]
pub(crate) struct RunSettings {
    pub(crate) llm: LlmConfig,
    pub(crate) max_iterations: u32,
    pub(crate) token_budget: u64,
    pub(crate) require_approval: bool,
}

/// Applies the project's settings, then the run's params, over the worker's
/// configuration.
pub(crate) fn resolve(
    config: &CodingAgentConfig,
    project_settings: &Value,
    run_params: &Value,
) -> Result<RunSettings, String> {
    let project = LlmParams::from_project_settings(project_settings)
        .map_err(|e| format!("invalid project settings: {e}"))?;
    let run = LlmParams::parse(run_params).map_err(|e| format!("invalid params: {e}"))?;

    let mut settings = RunSettings {
        llm: config.llm.clone(),
        max_iterations: config.max_iterations,
        token_budget: config.token_budget,
        require_approval: false,
    };
    for layer in [project, run] {
        if let Some(model) = layer.model {
            settings.llm.model = model;
        }
        if let Some(n) = layer.max_iterations {
            settings.max_iterations = n;
        }
        if let Some(n) = layer.token_budget {
            settings.token_budget = n;
        }
        if let Some(t) = layer.request_timeout_s {
            settings.llm.request_timeout = Duration::from_secs(t);
        }
        if let Some(b) = layer.require_approval {
            settings.require_approval = b;
        }
        if let Some(url) = layer.base_url {
            if !config.allow_base_url_override {
                return Err("params.base_url is not allowed for this run".to_owned());
            }
            settings.llm.base_url = check_base_url(&url)?;
            // The worker's key belongs to the worker's endpoint only.
            settings.llm.api_key = layer.api_key;
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_runner_domain::llm_settings::params_override_endpoint;
    use serde_json::json;

    #[test]
    fn run_params_override_project_settings_which_override_the_config() {
        let config = CodingAgentConfig::default();
        let s = resolve(
            &config,
            &json!({"require_approval": true, "model": "p", "unrelated": 1}),
            &json!({"model": "r"}),
        )
        .expect("valid");
        assert_eq!(s.llm.model, "r");
        assert!(s.require_approval);
        assert_eq!(s.max_iterations, config.max_iterations);
    }

    #[test]
    fn a_base_url_override_needs_permission_and_never_gets_the_configured_key() {
        let mut config = CodingAgentConfig::default();
        config.llm.api_key = Some("worker-key".to_owned());
        let params = json!({"base_url": "http://elsewhere:8000/v1"});
        assert!(params_override_endpoint(&params));
        assert!(resolve(&config, &Value::Null, &params).is_err());
        config.allow_base_url_override = true;
        let s = resolve(&config, &Value::Null, &params).expect("allowed");
        assert_eq!(s.llm.base_url, "http://elsewhere:8000/v1");
        assert_eq!(s.llm.api_key, None);
    }
}

//! Per-run overrides of the agent's configuration: the run's `params` object
//! and the project's `settings`.
//!
//! The api calls [`validate_llm_params`] to refuse unknown or ill-typed keys
//! with 422 before a run is accepted, and [`validate_project_settings`] for
//! a new project's settings; the worker resolves the effective
//! settings of an attempt with [`resolve`]. An endpoint override
//! (`base_url`, `api_key`) is honoured only when the worker allows it, and a
//! run pointed elsewhere never receives the configured API key.

use crate::config::{CodingAgentConfig, LlmConfig, MAX_ITERATIONS_LIMIT, check_base_url};
use crate::workspace::mirror;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::Duration;

/// Keys a run's `params` may hold for the `llm` agent.
pub const LLM_PARAM_KEYS: [&str; 7] = [
    "model",
    "max_iterations",
    "token_budget",
    "request_timeout_s",
    "require_approval",
    "base_url",
    "api_key",
];

/// Keys read from a project's `settings` (other keys are left to others).
const PROJECT_SETTING_KEYS: [&str; 5] = [
    "model",
    "max_iterations",
    "token_budget",
    "request_timeout_s",
    "require_approval",
];

/// Longest request timeout a run may ask for, in seconds.
pub const MAX_REQUEST_TIMEOUT_S: u64 = 3600;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LlmParams {
    model: Option<String>,
    max_iterations: Option<u32>,
    token_budget: Option<u64>,
    request_timeout_s: Option<u64>,
    require_approval: Option<bool>,
    base_url: Option<String>,
    api_key: Option<String>,
}

impl LlmParams {
    fn parse(value: &Value) -> Result<Self, String> {
        let params: LlmParams = match value {
            Value::Null => LlmParams::default(),
            Value::Object(map) => {
                // Key by key first, so that a wrong type names its key.
                for (key, item) in map {
                    let single = Value::Object(Map::from_iter([(key.clone(), item.clone())]));
                    serde_json::from_value::<LlmParams>(single)
                        .map_err(|e| format!("{key}: {e}"))?;
                }
                serde_json::from_value(value.clone()).map_err(|e| e.to_string())?
            }
            _ => return Err("params must be a JSON object".to_owned()),
        };
        if params.model.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return Err("model must not be empty".to_owned());
        }
        if params
            .max_iterations
            .is_some_and(|n| !(1..=MAX_ITERATIONS_LIMIT).contains(&n))
        {
            return Err(format!(
                "max_iterations must be between 1 and {MAX_ITERATIONS_LIMIT}"
            ));
        }
        if params.token_budget == Some(0) {
            return Err("token_budget must be positive".to_owned());
        }
        if params
            .request_timeout_s
            .is_some_and(|t| !(1..=MAX_REQUEST_TIMEOUT_S).contains(&t))
        {
            return Err(format!(
                "request_timeout_s must be between 1 and {MAX_REQUEST_TIMEOUT_S}"
            ));
        }
        if let Some(url) = &params.base_url {
            check_base_url(url).map_err(|e| format!("base_url: {e}"))?;
        }
        if params.api_key.is_some() && params.base_url.is_none() {
            return Err("api_key may only be given together with base_url".to_owned());
        }
        Ok(params)
    }
}

/// Checks the `params` of an `llm` run: an object whose keys are among
/// [`LLM_PARAM_KEYS`], each of the right type and range. The message names
/// the offending key.
pub fn validate_llm_params(params: &Value) -> Result<(), String> {
    LlmParams::parse(params).map(|_| ())
}

/// Checks the keys of a project's `settings` this agent reads: the
/// [`LLM_PARAM_KEYS`] a project may set (not the endpoint), `merge_into` (a
/// branch name or `false`), `push_branches` (bool) and `git_timeout_s`.
/// Other keys are left alone. The message names the offending key.
pub fn validate_project_settings(settings: &Value) -> Result<(), String> {
    let Some(map) = settings.as_object() else {
        return Err("settings must be a JSON object".to_owned());
    };
    let known: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| PROJECT_SETTING_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    LlmParams::parse(&Value::Object(known))?;
    match map.get("merge_into") {
        None | Some(Value::Null | Value::Bool(false) | Value::String(_)) => {}
        Some(other) => {
            return Err(format!(
                "merge_into must be a branch name or false, not {other}"
            ));
        }
    }
    mirror::pushes_branches(settings).map_err(|e| e.to_string())?;
    mirror::git_timeout(settings).map_err(|e| e.to_string())?;
    Ok(())
}

/// Whether `params` point the run at another endpoint (`base_url`), which
/// only admins should be allowed to do.
pub fn params_override_endpoint(params: &Value) -> bool {
    params.get("base_url").is_some_and(|v| !v.is_null())
}

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
    let known: Map<String, Value> = project_settings
        .as_object()
        .map(|settings| {
            settings
                .iter()
                .filter(|(k, _)| PROJECT_SETTING_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let project = LlmParams::parse(&Value::Object(known))
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
    use serde_json::json;

    #[test]
    fn known_keys_of_the_right_type_are_accepted() {
        let params = json!({"model": "m", "max_iterations": 5, "token_budget": 1000,
            "request_timeout_s": 30, "require_approval": true});
        assert_eq!(validate_llm_params(&params), Ok(()));
        assert_eq!(validate_llm_params(&Value::Null), Ok(()));
    }

    #[test]
    fn unknown_or_ill_typed_keys_are_refused_by_name() {
        let err = validate_llm_params(&json!({"temperature": 1})).expect_err("unknown");
        assert!(err.contains("temperature"), "{err}");
        let err = validate_llm_params(&json!({"max_iterations": "ten"})).expect_err("type");
        assert!(err.starts_with("max_iterations: invalid type"), "{err}");
        let err = validate_llm_params(&json!({"max_iterations": 0})).expect_err("range");
        assert!(err.contains("max_iterations"), "{err}");
        assert!(validate_llm_params(&json!({"api_key": "k"})).is_err());
        assert!(validate_llm_params(&json!([])).is_err());
    }

    #[test]
    fn project_settings_are_checked_by_key_and_other_keys_left_alone() {
        let good = json!({"model": "m", "require_approval": true, "merge_into": false,
            "push_branches": true, "git_timeout_s": 60, "team": "core", "base_url": 1});
        assert_eq!(validate_project_settings(&good), Ok(()));
        for (bad, key) in [
            (json!({"require_approval": "yes"}), "require_approval"),
            (json!({"max_iterations": 0}), "max_iterations"),
            (json!({"merge_into": 3}), "merge_into"),
            (json!({"push_branches": "on"}), "push_branches"),
            (json!({"git_timeout_s": 0}), "git_timeout_s"),
            (json!({"git_timeout_s": 90000}), "git_timeout_s"),
        ] {
            let err = validate_project_settings(&bad).expect_err("refused");
            assert!(err.contains(key), "{bad}: {err}");
        }
        assert!(validate_project_settings(&json!([])).is_err());
    }

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

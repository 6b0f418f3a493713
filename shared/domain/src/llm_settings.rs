//! What an `llm` run may ask for in its `params` and a project in its
//! `settings`: the keys, their types and ranges. The api checks them before
//! a run or project is accepted (422 naming the key); the worker's `llm`
//! agent reads the same [`LlmParams`] to layer them over its configuration.
//! Pure checks, no I/O: the api links none of the agent's code.

use serde::Deserialize;
use serde_json::{Map, Value};

/// Most LLM calls a run may be configured for.
pub const MAX_ITERATIONS_LIMIT: u32 = 500;
/// `settings.git_timeout_s` when unset.
pub const GIT_TIMEOUT_DEFAULT_S: u64 = 300;
/// Largest `settings.git_timeout_s`.
pub const GIT_TIMEOUT_MAX_S: u64 = 86_400;

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
pub const PROJECT_SETTING_KEYS: [&str; 5] = [
    "model",
    "max_iterations",
    "token_budget",
    "request_timeout_s",
    "require_approval",
];

/// Longest request timeout a run may ask for, in seconds.
pub const MAX_REQUEST_TIMEOUT_S: u64 = 3600;

/// The `llm` keys of a run's params or a project's settings, checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmParams {
    /// Model name.
    pub model: Option<String>,
    /// LLM calls per run.
    pub max_iterations: Option<u32>,
    /// Tokens per run.
    pub token_budget: Option<u64>,
    /// Seconds per model request.
    pub request_timeout_s: Option<u64>,
    /// Whether the run ends AWAITING_APPROVAL.
    pub require_approval: Option<bool>,
    /// Another endpoint (params only; normalised by [`check_base_url`]).
    pub base_url: Option<String>,
    /// The key for that endpoint (params only, with `base_url`).
    pub api_key: Option<String>,
}

impl LlmParams {
    /// Checks a run's `params` (an object or null).
    pub fn parse(value: &Value) -> Result<Self, String> {
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
/// branch name or `false`), `push_branches` (bool), `git_timeout_s`,
/// `network` (`"open"` or `"none"`) and the token budgets
/// ([`crate::budget::TokenBudget`]). Other keys are left alone. The message
/// names the offending key.
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
    pushes_branches(settings)?;
    git_timeout_s(settings)?;
    network_open(settings)?;
    crate::scheduling::validate_settings(settings)?;
    crate::budget::TokenBudget::from_settings(settings)?;
    Ok(())
}

impl LlmParams {
    /// The [`PROJECT_SETTING_KEYS`] of a project's `settings`, checked;
    /// other keys are ignored.
    pub fn from_project_settings(settings: &Value) -> Result<Self, String> {
        let known: Map<String, Value> = settings
            .as_object()
            .map(|settings| {
                settings
                    .iter()
                    .filter(|(k, _)| PROJECT_SETTING_KEYS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Self::parse(&Value::Object(known))
    }
}

/// `settings.git_timeout_s`: seconds a remote git command may take.
pub fn git_timeout_s(settings: &Value) -> Result<u64, String> {
    match settings.get("git_timeout_s") {
        None | Some(Value::Null) => Ok(GIT_TIMEOUT_DEFAULT_S),
        Some(value) => value
            .as_u64()
            .filter(|s| (1..=GIT_TIMEOUT_MAX_S).contains(s))
            .ok_or_else(|| {
                format!(
                    "the project's settings.git_timeout_s must be a whole number of seconds \
                     from 1 to {GIT_TIMEOUT_MAX_S}, not {value}"
                )
            }),
    }
}

/// `settings.network`: whether the commands of the project's runs may use
/// the network (`"open"`) or not (`"none"`, the default).
pub fn network_open(settings: &Value) -> Result<bool, String> {
    match settings.get("network") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(s)) if s == "none" => Ok(false),
        Some(Value::String(s)) if s == "open" => Ok(true),
        Some(other) => Err(format!(
            "the project's settings.network must be \"open\" or \"none\", not {other}"
        )),
    }
}

/// `settings.push_branches`: whether each run's branch is pushed.
pub fn pushes_branches(settings: &Value) -> Result<bool, String> {
    match settings.get("push_branches") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(push)) => Ok(*push),
        Some(other) => Err(format!(
            "the project's settings.push_branches must be true or false, not {other}"
        )),
    }
}

/// Checks a model endpoint URL (http or https); returns it without a
/// trailing `/`.
pub fn check_base_url(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`{url}` must be an http or https URL"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Whether `params` point the run at another endpoint (`base_url`), which
/// only admins should be allowed to do.
pub fn params_override_endpoint(params: &Value) -> bool {
    params.get("base_url").is_some_and(|v| !v.is_null())
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
            (json!({"network": true}), "network"),
            (json!({"git_timeout_s": 0}), "git_timeout_s"),
            (json!({"git_timeout_s": 90000}), "git_timeout_s"),
            (json!({"token_budget_daily": 0}), "token_budget_daily"),
            (json!({"over_budget": "later"}), "over_budget"),
        ] {
            let err = validate_project_settings(&bad).expect_err("refused");
            assert!(err.contains(key), "{bad}: {err}");
        }
        assert!(validate_project_settings(&json!([])).is_err());
    }
}

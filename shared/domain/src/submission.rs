//! Validation of a run submission, shared by the api (which rejects bad input
//! with 422) and the worker (which trusts nothing it reads back).

use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Longest accepted goal, in bytes.
pub const MAX_GOAL_BYTES: usize = 10 * 1024;
/// Attempts a run gets when the submission does not say.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 3;
/// Most attempts a submission may ask for.
pub const MAX_MAX_ATTEMPTS: i32 = 20;
/// Agent kinds this build knows.
pub const AGENT_KINDS: [&str; 2] = ["simulated", "llm"];

/// The agent kinds of [`AGENT_KINDS`], as the OpenAPI document names them
/// for [`RunSubmission::agent`] (which stays a string, so that an unknown
/// kind gets the message of [`SubmissionError::UnknownAgent`]).
#[derive(Debug, Clone, Copy, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum AgentKind {
    /// The simulated agent: a scripted lifecycle.
    Simulated,
    /// The coding agent over an OpenAI-compatible endpoint.
    Llm,
}

/// A run as a client submits it (`POST /v1/runs`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSubmission {
    /// The project the run works on.
    pub project_id: Uuid,
    /// What the agent should achieve: 1 to 10 KiB ([`MAX_GOAL_BYTES`]) once
    /// trimmed.
    #[schema(min_length = 1, max_length = 10240)]
    pub goal: String,
    /// Agent kind; `simulated` when absent.
    #[serde(default)]
    #[schema(value_type = Option<AgentKind>)]
    pub agent: Option<String>,
    /// Agent parameters (a JSON object).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<Value>,
    /// Attempts before the run fails for good: 1 to 20
    /// ([`MAX_MAX_ATTEMPTS`]), default 3.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 20)]
    pub max_attempts: Option<i32>,
    /// Run deadline in seconds; the server default (`RUN_TIMEOUT_DEFAULT_S`)
    /// when absent, at most `RUN_TIMEOUT_MAX_S`.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub timeout_s: Option<i64>,
    /// Order among the project's waiting runs: -10 to 10, default 0; higher
    /// starts first.
    #[serde(default)]
    #[schema(minimum = -10, maximum = 10)]
    pub priority: Option<i64>,
}

/// A submission that passed validation, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRun {
    /// The project the run works on.
    pub project_id: Uuid,
    /// Trimmed goal.
    pub goal: String,
    /// Agent kind, one of [`AGENT_KINDS`].
    pub agent: String,
    /// Agent parameters, always an object.
    pub params: Value,
    /// Attempts before the run fails for good.
    pub max_attempts: i32,
    /// Requested deadline, if any (bounded by the server's maximum later).
    pub timeout_s: Option<i64>,
    /// Order among the project's waiting runs (higher first).
    pub priority: i16,
}

/// Why a submission was refused. The message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmissionError {
    /// The goal is blank.
    #[error("goal must not be empty")]
    EmptyGoal,
    /// The goal is over [`MAX_GOAL_BYTES`].
    #[error("goal is {0} bytes; the limit is {MAX_GOAL_BYTES}")]
    GoalTooLong(usize),
    /// The agent kind is not known.
    #[error("unknown agent `{0}` (known: simulated, llm)")]
    UnknownAgent(String),
    /// `params` is not an object or holds a bad value.
    #[error("invalid params: {0}")]
    BadParams(String),
    /// `max_attempts` is out of range.
    #[error("max_attempts must be between 1 and {MAX_MAX_ATTEMPTS}, got {0}")]
    BadMaxAttempts(i32),
    /// `timeout_s` is not positive.
    #[error("timeout_s must be positive, got {0}")]
    BadTimeout(i64),
    /// `priority` is out of range.
    #[error("{0}")]
    BadPriority(String),
}

impl RunSubmission {
    /// Checks the submission and fills in defaults.
    pub fn validate(self) -> Result<ValidRun, SubmissionError> {
        let goal = self.goal.trim().to_owned();
        if goal.is_empty() {
            return Err(SubmissionError::EmptyGoal);
        }
        if goal.len() > MAX_GOAL_BYTES {
            return Err(SubmissionError::GoalTooLong(goal.len()));
        }
        let agent = self.agent.unwrap_or_else(|| "simulated".to_owned());
        if !AGENT_KINDS.contains(&agent.as_str()) {
            return Err(SubmissionError::UnknownAgent(agent));
        }
        let params = match self.params {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(Value::Object(map)) => Value::Object(map),
            Some(_) => {
                return Err(SubmissionError::BadParams(
                    "params must be a JSON object".into(),
                ));
            }
        };
        if agent == "simulated" {
            validate_simulated_params(&params)?;
        }
        let max_attempts = self.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if !(1..=MAX_MAX_ATTEMPTS).contains(&max_attempts) {
            return Err(SubmissionError::BadMaxAttempts(max_attempts));
        }
        if let Some(t) = self.timeout_s.filter(|t| *t <= 0) {
            return Err(SubmissionError::BadTimeout(t));
        }
        let priority = match self.priority {
            None => 0,
            Some(p) => {
                crate::scheduling::check_priority(p).map_err(SubmissionError::BadPriority)?
            }
        };
        Ok(ValidRun {
            project_id: self.project_id,
            goal,
            agent,
            params,
            max_attempts,
            timeout_s: self.timeout_s,
            priority,
        })
    }
}

/// Parameters of the simulated agent, as the worker reads them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedParams {
    /// Pause after each step, in milliseconds.
    #[serde(default = "default_step_delay_ms")]
    pub step_delay_ms: u64,
    /// Fail transiently on the first N attempts.
    #[serde(default)]
    pub fail_attempts: u32,
    /// `permanent`: fail every attempt (retried until `max_attempts`);
    /// `fatal`: a non-retryable failure that ends the run at once;
    /// `crash`: the worker process aborts mid-attempt (fault injection, only
    /// on workers that allow it).
    #[serde(default)]
    pub fail: Option<FailMode>,
}

/// How a simulated run fails on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Every attempt fails with a retryable error.
    Permanent,
    /// The first attempt fails with an error that is never retried.
    Fatal,
    /// The worker process aborts during the attempt (a poison run), when the
    /// worker allows crash faults; otherwise as `Fatal`.
    Crash,
}

fn default_step_delay_ms() -> u64 {
    1000
}

/// Longest simulated step delay accepted, in milliseconds.
pub const MAX_STEP_DELAY_MS: u64 = 600_000;

impl SimulatedParams {
    /// Parses simulated-agent params from a run's `params` object.
    pub fn from_value(params: &Value) -> Result<Self, SubmissionError> {
        let parsed: SimulatedParams = serde_json::from_value(params.clone())
            .map_err(|e| SubmissionError::BadParams(e.to_string()))?;
        if parsed.step_delay_ms > MAX_STEP_DELAY_MS {
            return Err(SubmissionError::BadParams(format!(
                "step_delay_ms must be at most {MAX_STEP_DELAY_MS}"
            )));
        }
        Ok(parsed)
    }
}

fn validate_simulated_params(params: &Value) -> Result<(), SubmissionError> {
    SimulatedParams::from_value(params).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn submission(goal: &str) -> RunSubmission {
        RunSubmission {
            project_id: Uuid::nil(),
            goal: goal.into(),
            agent: None,
            params: None,
            max_attempts: None,
            timeout_s: None,
            priority: None,
        }
    }

    #[test]
    fn defaults_are_filled_in() {
        let run = submission("  do it ").validate().expect("valid");
        assert_eq!(run.goal, "do it");
        assert_eq!(run.agent, "simulated");
        assert_eq!(run.params, json!({}));
        assert_eq!(run.max_attempts, DEFAULT_MAX_ATTEMPTS);
    }

    #[test]
    fn blank_and_oversized_goals_are_refused() {
        assert_eq!(
            submission("   ").validate(),
            Err(SubmissionError::EmptyGoal)
        );
        let long = "x".repeat(MAX_GOAL_BYTES + 1);
        assert_eq!(
            submission(&long).validate(),
            Err(SubmissionError::GoalTooLong(MAX_GOAL_BYTES + 1))
        );
    }

    #[test]
    fn unknown_agent_and_bad_params_are_refused() {
        let mut s = submission("g");
        s.agent = Some("wizard".into());
        assert!(matches!(
            s.validate(),
            Err(SubmissionError::UnknownAgent(_))
        ));

        let mut s = submission("g");
        s.params = Some(json!([1, 2]));
        assert!(matches!(s.validate(), Err(SubmissionError::BadParams(_))));

        let mut s = submission("g");
        s.params = Some(json!({"step_delay_ms": -1}));
        assert!(matches!(s.validate(), Err(SubmissionError::BadParams(_))));

        let mut s = submission("g");
        s.params = Some(json!({"fail": "sometimes"}));
        assert!(matches!(s.validate(), Err(SubmissionError::BadParams(_))));
    }

    #[test]
    fn max_attempts_is_bounded() {
        let mut s = submission("g");
        s.max_attempts = Some(0);
        assert_eq!(s.validate(), Err(SubmissionError::BadMaxAttempts(0)));
    }

    #[test]
    fn the_document_names_the_agent_kinds_and_limits_this_module_checks() {
        let schema = |s: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
            serde_json::to_value(s).expect("schema serialises")
        };
        let kinds = schema(<AgentKind as utoipa::PartialSchema>::schema());
        assert_eq!(kinds["enum"], json!(AGENT_KINDS), "{kinds}");
        let submission = schema(<RunSubmission as utoipa::PartialSchema>::schema());
        let fields = &submission["properties"];
        assert_eq!(fields["goal"]["maxLength"], json!(MAX_GOAL_BYTES));
        assert_eq!(fields["max_attempts"]["maximum"], json!(MAX_MAX_ATTEMPTS));
    }

    #[test]
    fn simulated_params_parse_with_defaults() {
        let p = SimulatedParams::from_value(&json!({"fail_attempts": 2})).expect("valid");
        assert_eq!(p.step_delay_ms, 1000);
        assert_eq!(p.fail_attempts, 2);
        assert_eq!(p.fail, None);
    }
}

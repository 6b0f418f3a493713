//! The api's resources as the human output reads them. Every field has a
//! default so that an api with fewer or more fields still renders; `--json`
//! output never goes through these types.

use serde::Deserialize;
use serde_json::Value;

/// Statuses after which a run changes no more unless retried.
pub const TERMINAL_STATUSES: [&str; 4] = ["COMPLETED", "FAILED", "CANCELLED", "REJECTED"];
/// The status a run waits in for a reviewer.
pub const AWAITING_APPROVAL: &str = "AWAITING_APPROVAL";

/// True when a watch ends at `status`: terminal, or paused for approval.
pub fn ends_watch(status: &str) -> bool {
    TERMINAL_STATUSES.contains(&status) || status == AWAITING_APPROVAL
}

/// The run status an event kind leaves the run in, for kinds that end a watch.
pub fn final_status_of_kind(kind: &str) -> Option<&'static str> {
    match kind {
        "RUN_COMPLETED" => Some("COMPLETED"),
        "RUN_FAILED" => Some("FAILED"),
        "RUN_CANCELLED" => Some("CANCELLED"),
        "RUN_REJECTED" => Some("REJECTED"),
        "AWAITING_APPROVAL" => Some(AWAITING_APPROVAL),
        _ => None,
    }
}

/// A run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Run {
    pub id: String,
    pub project_id: String,
    pub goal: String,
    pub agent: String,
    pub params: Value,
    pub status: String,
    pub attempt: i64,
    pub max_attempts: i64,
    pub timeout_s: Option<i64>,
    pub worker_id: Option<String>,
    pub lease_until: Option<String>,
    pub error: Option<String>,
    pub result: Option<Value>,
    pub cancel_requested: bool,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub updated_at: Option<String>,
    /// Why it waits (only `GET /v1/runs/{id}` says).
    pub waiting: Option<Waiting>,
}

/// Why a run waits.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Waiting {
    pub reason: String,
    pub detail: String,
}

/// One event of a run's timeline.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunEvent {
    pub seq: i64,
    pub attempt: i64,
    pub kind: String,
    pub payload: Value,
    pub created_at: Option<String>,
}

/// A request the api handed to a run's worker (approve, reject or exec),
/// and the worker's answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunRequest {
    pub id: String,
    pub run_id: String,
    pub kind: String,
    pub worker_id: String,
    /// PENDING, DONE or FAILED.
    pub status: String,
    pub result: Option<Value>,
    pub error: Option<String>,
}

/// The status of a request the worker has not answered yet.
pub const PENDING: &str = "PENDING";
/// The status of a request the worker carried out.
pub const DONE: &str = "DONE";

/// What an exec'd command did (the `result` of an exec request).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExecResult {
    /// Absent when the command was killed.
    pub exit_code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
    pub truncated: bool,
    pub timed_out: bool,
    pub timeout_s: Option<u64>,
}

/// A project.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub repo_url: Option<String>,
    pub default_branch: Option<String>,
    pub settings: Value,
    pub created_at: Option<String>,
}

/// A live worker.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Worker {
    pub id: String,
    pub hostname: Option<String>,
    pub started_at: Option<String>,
    pub last_heartbeat: Option<String>,
    pub concurrency: Option<i64>,
    pub in_flight: Option<i64>,
    pub metrics_addr: Option<String>,
    pub sandbox: Option<String>,
}

/// Reads the array `key` of `body` as `T`s, skipping entries that do not fit.
pub fn list_of<T: serde::de::DeserializeOwned>(body: &Value, key: &str) -> Vec<T> {
    body.get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| T::deserialize(v).ok())
                .collect()
        })
        .unwrap_or_default()
}

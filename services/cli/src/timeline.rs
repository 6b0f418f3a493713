//! One line per run event for `watch`:
//! `#seq  HH:MM:SS  KIND  attempt N  <short payload summary>`.
//!
//! The summary picks what a person watching wants from the payloads the
//! agents write (an error, a message, a plan, a tool call, a diffstat) and
//! falls back to compact JSON; it is always one line.

use crate::model::RunEvent;
use crate::render::{clip, clock};
use crate::style::Style;
use serde_json::{Map, Value};

/// Width of the kind column: the longest kind, `AWAITING_APPROVAL`.
const KIND_WIDTH: usize = 17;
/// Longest summary, in characters.
const SUMMARY_CHARS: usize = 100;

/// The timeline line of `event`.
pub fn line(event: &RunEvent, style: Style) -> String {
    let seq = format!("#{:<4}", event.seq);
    let kind = format!("{:<KIND_WIDTH$}", event.kind);
    let text = format!(
        "{}  {}  {}  attempt {}  {}",
        style.dim(&seq),
        clock(event.created_at.as_deref()),
        style.kind(&event.kind, &kind),
        event.attempt,
        summary(&event.payload),
    );
    text.trim_end().to_owned()
}

/// A one-line summary of an event payload.
pub fn summary(payload: &Value) -> String {
    let text = match payload {
        Value::Object(fields) => summary_of_object(fields),
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    clip(&text, SUMMARY_CHARS)
}

fn summary_of_object(fields: &Map<String, Value>) -> String {
    let text = |key: &str| {
        fields
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(error) = text("error") {
        return format!("error: {error}");
    }
    if let Some(name) = text("name") {
        return tool_summary(name, fields);
    }
    if let Some(plan) = fields.get("plan") {
        return match plan {
            Value::Array(steps) => {
                let steps: Vec<String> = steps.iter().map(value_text).collect();
                format!("plan: {}", steps.join("; "))
            }
            other => format!("plan: {}", value_text(other)),
        };
    }
    if let Some(files) = fields.get("files_changed").and_then(Value::as_i64) {
        let count = |key: &str| fields.get(key).and_then(Value::as_i64).unwrap_or(0);
        return format!(
            "{files} files changed, +{} -{}",
            count("insertions"),
            count("deletions")
        );
    }
    if let Some(branch) = text("branch") {
        return match text("start_commit") {
            Some(commit) => format!("branch {branch} at {}", short_commit(commit)),
            None => format!("branch {branch}"),
        };
    }
    if let Some(wait_ms) = fields.get("wait_ms").and_then(Value::as_u64) {
        let limit = text("limit").unwrap_or("rate_limit").replace('_', " ");
        return format!(
            "waits {:.1} s for the model's {limit}",
            wait_ms as f64 / 1000.0
        );
    }
    if let Some(worker) = text("worker_id") {
        return format!("on worker {worker}");
    }
    for key in ["message", "reason", "step", "summary", "goal"] {
        if let Some(value) = text(key) {
            return value.to_owned();
        }
    }
    let rest: Map<String, Value> = fields
        .iter()
        .filter(|(k, _)| *k != "attempt")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if rest.is_empty() {
        String::new()
    } else {
        Value::Object(rest).to_string()
    }
}

/// `TOOL_CALLED` (`name(arguments)`) and `TOOL_RESULT` (`name ok: output`).
fn tool_summary(name: &str, fields: &Map<String, Value>) -> String {
    if let Some(ok) = fields.get("ok").and_then(Value::as_bool) {
        let outcome = if ok { "ok" } else { "failed" };
        let output = fields.get("output").map(value_text).unwrap_or_default();
        let first_line = output.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return format!("{name} {outcome}: {first_line}")
            .trim_end_matches([' ', ':'])
            .to_owned();
    }
    match fields.get("arguments") {
        Some(arguments) => format!("{name}({})", value_text(arguments)),
        None => name.to_owned(),
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn short_commit(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_line_has_seq_time_kind_attempt_and_summary() {
        let event = RunEvent {
            seq: 3,
            attempt: 1,
            kind: "AGENT_THINKING".into(),
            payload: json!({"message": "analysing the goal"}),
            created_at: None,
        };
        let text = line(&event, Style::plain());
        assert_eq!(
            text,
            "#3     --:--:--  AGENT_THINKING     attempt 1  analysing the goal"
        );
    }

    #[test]
    fn summaries_pick_the_interesting_field() {
        assert_eq!(
            summary(&json!({"attempt": 1, "error": "boom"})),
            "error: boom"
        );
        assert_eq!(
            summary(&json!({"plan": ["understand the goal", "verify"]})),
            "plan: understand the goal; verify"
        );
        assert_eq!(
            summary(&json!({"step": "make the change"})),
            "make the change"
        );
        assert_eq!(
            summary(&json!({"id": "c1", "name": "run", "arguments": {"cmd": "ls"}})),
            r#"run({"cmd":"ls"})"#
        );
        assert_eq!(
            summary(&json!({"name": "run", "ok": false, "output": "\nexit 1\nmore"})),
            "run failed: exit 1"
        );
        assert_eq!(
            summary(
                &json!({"files_changed": 2, "insertions": 10, "deletions": 3, "diffstat": "…"})
            ),
            "2 files changed, +10 -3"
        );
        assert_eq!(
            summary(&json!({"worker_id": "w-1", "attempt": 1})),
            "on worker w-1"
        );
        assert_eq!(
            summary(
                &json!({"reason": "rate_limit", "limit": "requests_per_minute",
                "wait_ms": 1500, "iteration": 2})
            ),
            "waits 1.5 s for the model's requests per minute"
        );
        assert_eq!(summary(&json!({"attempt": 1})), "");
        assert_eq!(summary(&json!({"iteration": 2})), r#"{"iteration":2}"#);
    }

    #[test]
    fn summaries_stay_on_one_short_line() {
        let long = "word ".repeat(100);
        let text = summary(&json!({"message": format!("first\nsecond {long}")}));
        assert!(!text.contains('\n'));
        assert_eq!(text.chars().count(), SUMMARY_CHARS);
    }
}

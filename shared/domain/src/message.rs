//! The job message carried on the work queue.
//!
//! The body is a small tagged JSON document; everything else about the run
//! lives in Postgres. AMQP properties (`message_id` = run id, headers with the
//! attempt) are set by the queue crate for legibility in the management UI.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a worker is asked to do. Tagged with `type` so new job kinds can be
/// added without breaking old workers (an unknown type is dead-lettered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobMessage {
    /// Execute (the next attempt of) a run.
    ExecuteRun {
        /// The run to execute.
        run_id: Uuid,
    },
}

impl JobMessage {
    /// The run this message is about.
    pub fn run_id(&self) -> Uuid {
        match self {
            JobMessage::ExecuteRun { run_id } => *run_id,
        }
    }

    /// The AMQP `type` property for this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            JobMessage::ExecuteRun { .. } => "execute_run",
        }
    }

    /// Serialises the message body.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a JobMessage always serialises")
    }

    /// Parses a message body; an error names what is wrong with it.
    pub fn from_bytes(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_run_round_trips() {
        let msg = JobMessage::ExecuteRun {
            run_id: Uuid::now_v7(),
        };
        assert_eq!(JobMessage::from_bytes(&msg.to_bytes()).ok(), Some(msg));
    }

    #[test]
    fn unknown_types_and_garbage_are_rejected() {
        assert!(JobMessage::from_bytes(br#"{"type":"explode","run_id":"x"}"#).is_err());
        assert!(JobMessage::from_bytes(b"not json").is_err());
        assert!(JobMessage::from_bytes(br#"{"type":"execute_run"}"#).is_err());
    }
}

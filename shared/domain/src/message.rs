//! The job messages carried on the work queue and on the workers' own queues.
//!
//! The body is a small tagged JSON document; everything else about the run
//! (and about a review or exec request) lives in Postgres. AMQP properties
//! (`message_id` = run id, headers with the attempt) are set by the queue
//! crate for legibility in the management UI.
//!
//! [`JobMessage::ExecuteRun`] travels on the shared work queue. The control
//! jobs ([`JobMessage::ReviewRun`], [`JobMessage::ExecInRun`]) go to the one
//! worker that holds the run's worktree, through its own queue.

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
    /// Approve or reject a run that awaits approval (`run_requests` row
    /// `request_id` says which, and where to merge).
    ReviewRun {
        /// The run under review.
        run_id: Uuid,
        /// The request row the worker carries out and answers in.
        request_id: Uuid,
    },
    /// Run a command in the run's kept worktree (`run_requests` row
    /// `request_id` holds the command and its timeout).
    ExecInRun {
        /// The run whose worktree is used.
        run_id: Uuid,
        /// The request row the worker carries out and answers in.
        request_id: Uuid,
    },
}

impl JobMessage {
    /// The run this message is about.
    pub fn run_id(&self) -> Uuid {
        match self {
            JobMessage::ExecuteRun { run_id }
            | JobMessage::ReviewRun { run_id, .. }
            | JobMessage::ExecInRun { run_id, .. } => *run_id,
        }
    }

    /// The AMQP `type` property for this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            JobMessage::ExecuteRun { .. } => "execute_run",
            JobMessage::ReviewRun { .. } => "review_run",
            JobMessage::ExecInRun { .. } => "exec_in_run",
        }
    }

    /// The request a control job carries out; `None` for [`JobMessage::ExecuteRun`].
    pub fn request_id(&self) -> Option<Uuid> {
        match self {
            JobMessage::ExecuteRun { .. } => None,
            JobMessage::ReviewRun { request_id, .. } | JobMessage::ExecInRun { request_id, .. } => {
                Some(*request_id)
            }
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
    fn control_jobs_round_trip_with_their_tag() {
        let (run_id, request_id) = (Uuid::now_v7(), Uuid::now_v7());
        for msg in [
            JobMessage::ReviewRun { run_id, request_id },
            JobMessage::ExecInRun { run_id, request_id },
        ] {
            let json: serde_json::Value = serde_json::from_slice(&msg.to_bytes()).expect("json");
            assert_eq!(json["type"], msg.type_name());
            assert_eq!(msg.request_id(), Some(request_id));
            assert_eq!(JobMessage::from_bytes(&msg.to_bytes()).ok(), Some(msg));
        }
        let extra = format!(
            r#"{{"type":"review_run","run_id":"{run_id}","request_id":"{request_id}","x":1}}"#
        );
        assert!(JobMessage::from_bytes(extra.as_bytes()).is_err());
    }

    #[test]
    fn unknown_types_and_garbage_are_rejected() {
        assert!(JobMessage::from_bytes(br#"{"type":"explode","run_id":"x"}"#).is_err());
        assert!(JobMessage::from_bytes(b"not json").is_err());
        assert!(JobMessage::from_bytes(br#"{"type":"execute_run"}"#).is_err());
    }
}

//! The run state machine (see docs/architecture.md, "A run's path").
//!
//! The store enforces transitions with guarded SQL; this module names the
//! states and says which are terminal so every component agrees.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a run is in its life. Serialised upper-case, as stored in Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Accepted and waiting for a worker.
    Queued,
    /// Claimed by a worker that holds a live lease.
    Running,
    /// Failed transiently; a delayed re-delivery will start the next attempt.
    Retrying,
    /// Finished successfully.
    Completed,
    /// Failed after the last attempt, timed out or gave up.
    Failed,
    /// Stopped on request.
    Cancelled,
    /// Finished its work; waits for a human to approve or reject it.
    AwaitingApproval,
    /// Its result was rejected by a reviewer.
    Rejected,
}

impl RunStatus {
    /// Every status, in the order of the state machine.
    pub const ALL: [RunStatus; 8] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Retrying,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::AwaitingApproval,
        RunStatus::Rejected,
    ];

    /// The upper-case name used in the database and the api.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "QUEUED",
            RunStatus::Running => "RUNNING",
            RunStatus::Retrying => "RETRYING",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Failed => "FAILED",
            RunStatus::Cancelled => "CANCELLED",
            RunStatus::AwaitingApproval => "AWAITING_APPROVAL",
            RunStatus::Rejected => "REJECTED",
        }
    }

    /// Terminal states never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled | RunStatus::Rejected
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`RunStatus::ALL`].
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown run status `{0}` (expected one of QUEUED, RUNNING, RETRYING, COMPLETED, FAILED, CANCELLED, AWAITING_APPROVAL, REJECTED)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for RunStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_name() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>().ok(), Some(status));
            let json = serde_json::to_string(&status).expect("serialise");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }

    #[test]
    fn only_completed_failed_cancelled_and_rejected_are_terminal() {
        let terminal: Vec<_> = RunStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            vec![
                RunStatus::Completed,
                RunStatus::Failed,
                RunStatus::Cancelled,
                RunStatus::Rejected
            ]
        );
    }

    #[test]
    fn lower_case_names_are_rejected() {
        assert!("queued".parse::<RunStatus>().is_err());
    }
}

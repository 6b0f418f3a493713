//! Why a delivery is dead-lettered: one typed reason per cause, whose text
//! is the message's `reason` header (what the RabbitMQ management UI shows)
//! and whose label is the bounded value of `agent_runner_dead_lettered_total`.

use std::fmt;

/// Why a message goes to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// The body is not a job message.
    Malformed(String),
    /// A control job (review, exec) arrived on the work queue.
    Misrouted(&'static str),
    /// No run has the message's id.
    UnknownRun,
    /// The attempt ran past its deadline.
    Timeout,
    /// The last attempt failed with a transient error.
    AttemptsExhausted {
        /// Attempts made.
        attempts: i32,
        /// The last one's error.
        error: String,
    },
    /// The agent failed in a way another attempt would not change.
    Fatal(String),
    /// The claim found an attempt past `max_attempts`: earlier ones were
    /// lost with their workers (crash loops).
    AttemptsLost {
        /// The attempt claimed.
        attempt: i32,
        /// The run's limit.
        max_attempts: i32,
    },
}

impl DeadLetterReason {
    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Misrouted(_) => "misrouted",
            Self::UnknownRun => "unknown_run",
            Self::Timeout => "timeout",
            Self::AttemptsExhausted { .. } => "attempts_exhausted",
            Self::Fatal(_) => "fatal",
            Self::AttemptsLost { .. } => "attempts_lost",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(err) => write!(f, "malformed message: {err}"),
            Self::Misrouted(job) => write!(f, "{job} is a control job, not a work job"),
            Self::UnknownRun => f.write_str("unknown run"),
            Self::Timeout => f.write_str("timeout"),
            Self::AttemptsExhausted { attempts, error } => {
                write!(f, "failed after {attempts} attempts: {error}")
            }
            Self::Fatal(error) => write!(f, "failed: {error}"),
            Self::AttemptsLost {
                attempt,
                max_attempts,
            } => write!(
                f,
                "attempt {attempt} exceeds max_attempts {max_attempts}: earlier attempts were lost"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_header_text_and_a_label() {
        let cases = [
            (
                DeadLetterReason::Malformed("expected value".into()),
                "malformed message: expected value",
                "malformed",
            ),
            (
                DeadLetterReason::Misrouted("exec_request"),
                "exec_request is a control job, not a work job",
                "misrouted",
            ),
            (DeadLetterReason::UnknownRun, "unknown run", "unknown_run"),
            (DeadLetterReason::Timeout, "timeout", "timeout"),
            (
                DeadLetterReason::AttemptsExhausted {
                    attempts: 3,
                    error: "boom".into(),
                },
                "failed after 3 attempts: boom",
                "attempts_exhausted",
            ),
            (
                DeadLetterReason::Fatal("no agent `x` in this worker".into()),
                "failed: no agent `x` in this worker",
                "fatal",
            ),
            (
                DeadLetterReason::AttemptsLost {
                    attempt: 4,
                    max_attempts: 3,
                },
                "attempt 4 exceeds max_attempts 3: earlier attempts were lost",
                "attempts_lost",
            ),
        ];
        for (reason, text, label) in cases {
            assert_eq!(reason.to_string(), text);
            assert_eq!(reason.label(), label, "{text}");
        }
    }
}

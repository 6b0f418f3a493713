//! A model endpoint's allowance shared by every worker: which one it is, the
//! limits a worker holds it to, whether a call may go now, and which limit
//! holds a call back (named the same in the MODEL_WAITING event, the run's
//! `waiting` and the metrics). Plain data: the store keeps the allowance,
//! the worker and the agent ask it.

use std::time::Duration;

/// One model endpoint's allowance, as this worker is configured for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    /// Which allowance: the endpoint's URL and the model, shared by every
    /// worker that calls them.
    pub key: String,
    /// Requests a minute, spaced evenly; `None`: no limit.
    pub requests_per_minute: Option<u32>,
    /// Tokens (prompt and completion, as reported) a minute; `None`: no
    /// limit.
    pub tokens_per_minute: Option<u32>,
}

/// Whether a model call may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it: a request slot was taken for it.
    Go,
    /// Ask again after `wait`; nothing was taken.
    Wait {
        /// How long until the allowance has room, as far as known now.
        wait: Duration,
        /// Which limit holds the call back.
        limit: Limit,
    },
}

/// The limit a waiting model call is held back by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    Tokens,
    /// The endpoint answered 429 with `Retry-After` (to any worker).
    RetryAfter,
}

impl Limit {
    /// `requests_per_minute`, `tokens_per_minute` or `retry_after`.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Requests => "requests_per_minute",
            Limit::Tokens => "tokens_per_minute",
            Limit::RetryAfter => "retry_after",
        }
    }

    /// The limit named by [`Limit::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        [Limit::Requests, Limit::Tokens, Limit::RetryAfter]
            .into_iter()
            .find(|limit| limit.as_str() == name)
    }
}

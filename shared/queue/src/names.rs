//! Names of every exchange and queue. All carry the deployment's prefix
//! (`QUEUE_PREFIX`), which is also how tests isolate from each other.

/// The routing key of work messages on the work exchange.
pub const WORK_ROUTING_KEY: &str = "run";

/// Checks a prefix: RabbitMQ takes almost any name, but one with spaces or
/// control characters is a mistake in the configuration, not a name.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("must be a non-empty name without spaces".to_owned());
    }
    Ok(())
}

/// Exchange and queue names for one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// Names under `prefix` (e.g. `agent_runner`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix itself.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Direct exchange jobs are published to.
    pub fn work_exchange(&self) -> String {
        format!("{}.work", self.prefix)
    }

    /// Quorum queue workers consume.
    pub fn work_queue(&self) -> String {
        format!("{}.work", self.prefix)
    }

    /// Fanout exchange for dead letters.
    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// Queue holding dead letters for inspection.
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// Direct exchange of control jobs addressed to one worker (routing key =
    /// worker id).
    pub fn direct_exchange(&self) -> String {
        format!("{}.direct", self.prefix)
    }

    /// A worker's own queue (exclusive, auto-delete), bound to
    /// [`direct_exchange`](Self::direct_exchange) with its id.
    pub fn worker_queue(&self, worker_id: &str) -> String {
        format!("{}.worker.{worker_id}", self.prefix)
    }

    /// Delay queue of one retry tier.
    pub fn retry_queue(&self, delay_ms: u64) -> String {
        format!("{}.retry.{delay_ms}ms", self.prefix)
    }
}

//! Picks the agent for a run by its `agent` field.

use crate::Agent;
use std::collections::HashMap;
use std::sync::Arc;

/// The agents a worker can execute, by kind.
#[derive(Clone, Default)]
pub struct AgentRegistry {
    agents: HashMap<&'static str, Arc<dyn Agent>>,
}

impl AgentRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the agent for its kind.
    pub fn with(mut self, agent: Arc<dyn Agent>) -> Self {
        self.agents.insert(agent.kind(), agent);
        self
    }

    /// The agent for `kind`, if registered.
    pub fn get(&self, kind: &str) -> Option<Arc<dyn Agent>> {
        self.agents.get(kind).cloned()
    }
}

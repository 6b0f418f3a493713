//! The runs this worker is executing now, each with a cancel handle that
//! records why it was cancelled.

use agent_runner_store::claim::Held;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Why an attempt is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A client cancelled the run.
    CancelRequested,
    /// The attempt passed its deadline.
    Timeout,
    /// The worker is shutting down and the grace period is over.
    Shutdown,
    /// Another attempt owns the run now.
    Lost,
}

/// Cancel handle of one in-flight attempt.
#[derive(Debug, Clone)]
pub struct Stopper {
    token: CancellationToken,
    reason: Arc<Mutex<Option<StopReason>>>,
    ending: Arc<AtomicBool>,
}

impl Stopper {
    fn new() -> Self {
        Self {
            token: CancellationToken::new(),
            reason: Arc::new(Mutex::new(None)),
            ending: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The agent has returned and the attempt's ending is being committed:
    /// from now on a lease renewal that misses the run means it has just
    /// ended, not that it was lost, and there is nothing left to stop.
    pub fn mark_ending(&self) {
        self.ending.store(true, Ordering::SeqCst);
    }

    fn is_ending(&self) -> bool {
        self.ending.load(Ordering::SeqCst)
    }

    /// Stops the attempt; the first reason given wins.
    pub fn stop(&self, reason: StopReason) {
        if let Ok(mut slot) = self.reason.lock() {
            slot.get_or_insert(reason);
        }
        self.token.cancel();
    }

    /// The reason, once stopped.
    pub fn reason(&self) -> Option<StopReason> {
        self.reason.lock().ok().and_then(|r| *r)
    }

    /// The token handed to the agent.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

/// Registry of in-flight attempts.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    runs: Arc<Mutex<HashMap<Uuid, (i32, Stopper)>>>,
}

impl InFlight {
    /// Registers an attempt; returns its stopper.
    pub fn insert(&self, run_id: Uuid, attempt: i32) -> Stopper {
        let stopper = Stopper::new();
        if let Ok(mut runs) = self.runs.lock() {
            runs.insert(run_id, (attempt, stopper.clone()));
        }
        stopper
    }

    /// Forgets an attempt that ended.
    pub fn remove(&self, run_id: Uuid) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.remove(&run_id);
        }
    }

    /// Stops one run, if it is here and still executing; says whether it did.
    pub fn stop(&self, run_id: Uuid, reason: StopReason) -> bool {
        let stopper = self
            .runs
            .lock()
            .ok()
            .and_then(|runs| runs.get(&run_id).map(|(_, s)| s.clone()));
        match stopper {
            Some(stopper) if !stopper.is_ending() => {
                stopper.stop(reason);
                true
            }
            _ => false,
        }
    }

    /// Stops every run.
    pub fn stop_all(&self, reason: StopReason) {
        let stoppers: Vec<Stopper> = self
            .runs
            .lock()
            .map(|runs| runs.values().map(|(_, s)| s.clone()).collect())
            .unwrap_or_default();
        for stopper in stoppers {
            stopper.stop(reason);
        }
    }

    /// The attempts held now (for lease renewal).
    pub fn held(&self) -> Vec<Held> {
        self.runs
            .lock()
            .map(|runs| {
                runs.iter()
                    .map(|(id, (attempt, _))| Held {
                        run_id: *id,
                        attempt: *attempt,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many attempts are executing.
    pub fn len(&self) -> usize {
        self.runs.lock().map(|runs| runs.len()).unwrap_or(0)
    }

    /// True when nothing is executing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_whose_ending_is_being_committed_is_not_stopped() {
        let inflight = InFlight::default();
        let running = Uuid::now_v7();
        let ending = Uuid::now_v7();
        let running_stopper = inflight.insert(running, 1);
        let ending_stopper = inflight.insert(ending, 1);
        ending_stopper.mark_ending();

        assert!(!inflight.stop(ending, StopReason::Lost));
        assert_eq!(ending_stopper.reason(), None);
        assert!(!ending_stopper.token().is_cancelled());

        assert!(inflight.stop(running, StopReason::Lost));
        assert_eq!(running_stopper.reason(), Some(StopReason::Lost));
        assert!(
            !inflight.stop(Uuid::now_v7(), StopReason::Lost),
            "unknown run"
        );
    }
}

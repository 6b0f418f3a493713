//! The runs this worker is executing now, each with a cancel handle that
//! records why it was cancelled.
//!
//! A cancel request can reach the worker between the claim's commit (the
//! run is RUNNING for everyone) and the attempt's registration here. Such a
//! request is remembered for a while, and the attempt it was meant for is
//! stopped as it registers: a cancel is never left to the next heartbeat.
//!
//! One entry per run, for its newest attempt here: an attempt that registers
//! while an older attempt of the same run still executes here (the older one
//! lost its lease, say during a database outage, and the run came back to
//! this worker) stops the older one, and the older one's ending leaves the
//! newer one's entry — and so its lease renewal — alone.

use agent_runner_store::claim::Held;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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

/// How long a cancel request for a run not executing here is remembered:
/// far longer than a claim takes to be registered.
const MISSED_CANCEL_TTL: Duration = Duration::from_secs(30);

/// Registry of in-flight attempts.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    runs: Arc<Mutex<HashMap<Uuid, (i32, Stopper)>>>,
    /// Cancel requests for runs that were not executing here, with when
    /// they arrived.
    missed_cancels: Arc<Mutex<HashMap<Uuid, Instant>>>,
}

impl InFlight {
    /// Registers an attempt whose claim began at `claim_began`; returns its
    /// stopper — already stopped when a cancel request for the run arrived
    /// since then. (A request committed before the claim makes the claim
    /// itself refuse the run, so a later one is meant for this attempt.)
    pub fn insert(&self, run_id: Uuid, attempt: i32, claim_began: Instant) -> Stopper {
        let stopper = Stopper::new();
        let superseded = self
            .runs
            .lock()
            .ok()
            .and_then(|mut runs| runs.insert(run_id, (attempt, stopper.clone())));
        if let Some((_, older)) = superseded {
            older.stop(StopReason::Lost);
        }
        let missed = self
            .missed_cancels
            .lock()
            .ok()
            .and_then(|mut missed| missed.remove(&run_id));
        if missed.is_some_and(|arrived| arrived >= claim_began) {
            stopper.stop(StopReason::CancelRequested);
        }
        stopper
    }

    /// Forgets an attempt that ended, unless a newer attempt of its run
    /// has registered since.
    pub fn remove(&self, run_id: Uuid, attempt: i32) {
        if let Ok(mut runs) = self.runs.lock()
            && runs.get(&run_id).is_some_and(|(held, _)| *held == attempt)
        {
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
            Some(_) => false,
            None => {
                if reason == StopReason::CancelRequested {
                    self.remember_missed_cancel(run_id);
                }
                false
            }
        }
    }

    fn remember_missed_cancel(&self, run_id: Uuid) {
        if let Ok(mut missed) = self.missed_cancels.lock() {
            let now = Instant::now();
            missed.retain(|_, arrived| now.duration_since(*arrived) < MISSED_CANCEL_TTL);
            missed.insert(run_id, now);
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
        let running_stopper = inflight.insert(running, 1, Instant::now());
        let ending_stopper = inflight.insert(ending, 1, Instant::now());
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

    #[test]
    fn a_cancel_arriving_between_the_claim_and_the_registration_stops_the_attempt() {
        let inflight = InFlight::default();
        let run = Uuid::now_v7();
        let claim_began = Instant::now();
        // The NOTIFY comes in before the executor registered the attempt.
        assert!(!inflight.stop(run, StopReason::CancelRequested));
        let stopper = inflight.insert(run, 1, claim_began);
        assert_eq!(stopper.reason(), Some(StopReason::CancelRequested));
        assert!(stopper.token().is_cancelled());

        // Remembered once: a later attempt of the run starts unstopped.
        inflight.remove(run, 1);
        let next = inflight.insert(run, 2, claim_began);
        assert_eq!(next.reason(), None);
    }

    #[test]
    fn a_cancel_from_before_the_claim_began_does_not_stop_the_attempt() {
        let inflight = InFlight::default();
        let run = Uuid::now_v7();
        assert!(!inflight.stop(run, StopReason::CancelRequested));
        std::thread::sleep(Duration::from_millis(5));
        let stopper = inflight.insert(run, 1, Instant::now());
        assert_eq!(stopper.reason(), None);
        assert!(!stopper.token().is_cancelled());
    }

    #[test]
    fn a_newer_attempt_of_a_run_stops_the_older_one_and_outlives_its_ending() {
        let inflight = InFlight::default();
        let run = Uuid::now_v7();
        let older = inflight.insert(run, 1, Instant::now());
        let newer = inflight.insert(run, 2, Instant::now());
        assert_eq!(older.reason(), Some(StopReason::Lost));
        assert_eq!(newer.reason(), None);

        // The older attempt ends: the newer one is still held and renewed.
        inflight.remove(run, 1);
        assert_eq!(
            inflight.held(),
            vec![Held {
                run_id: run,
                attempt: 2
            }]
        );
        assert!(inflight.stop(run, StopReason::CancelRequested));
        assert_eq!(newer.reason(), Some(StopReason::CancelRequested));

        inflight.remove(run, 2);
        assert!(inflight.is_empty());
    }
}

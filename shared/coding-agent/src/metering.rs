//! Around each model call of the loop, through the worker's
//! [`ModelGate`]: before it, the project's token budgets (a budget used up
//! ends the run, FAILED, naming it) and the endpoint's shared allowance (the
//! call waits, watching the stop token, and the timeline shows the wait with
//! MODEL_WAITING); after it, the tokens the reply reported.
//!
//! Waiting is neither an error nor an iteration: nothing is logged above
//! `info`, and the loop counts the call only once it is sent.

use crate::agent_loop::interrupted;
use agent_runner_agent::{Admission, AgentError, Allowance, EventSink, ModelGate};
use agent_runner_domain::EventKind;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A wait that ends this much later than the one announced is announced
/// again (another worker's 429, tokens charged meanwhile).
const ANNOUNCE_SLACK: Duration = Duration::from_secs(1);

/// What metering needs of the loop.
pub(crate) struct Meter<'a> {
    pub(crate) gate: &'a dyn ModelGate,
    pub(crate) allowance: &'a Allowance,
    pub(crate) events: &'a dyn EventSink,
    /// The project's name, for the budget's error.
    pub(crate) project: &'a str,
    pub(crate) stop: &'a CancellationToken,
    pub(crate) deadline: Instant,
}

impl Meter<'_> {
    /// Everything a call waits for before it is sent: a budget with room,
    /// then the allowance.
    pub(crate) async fn before_call(&self, iteration: u32) -> Result<(), AgentError> {
        let over = tokio::select! {
            biased;
            () = self.stop.cancelled() => return Err(interrupted(self.deadline)),
            over = self.gate.over_budget() => over.map_err(|e| AgentError::Transient(e.to_string()))?,
        };
        if let Some(over) = over {
            return Err(AgentError::Fatal(format!(
                "project {} is {over}",
                self.project
            )));
        }
        self.wait_for_allowance(iteration).await
    }

    /// Asks the allowance until it lets the call go, sleeping in between.
    async fn wait_for_allowance(&self, iteration: u32) -> Result<(), AgentError> {
        let mut announced: Option<Instant> = None;
        loop {
            let admission = tokio::select! {
                biased;
                () = self.stop.cancelled() => return Err(interrupted(self.deadline)),
                admission = self.gate.acquire(self.allowance) => {
                    admission.map_err(|e| AgentError::Transient(e.to_string()))?
                }
            };
            let Admission::Wait { wait, limit } = admission else {
                return Ok(());
            };
            let until = Instant::now() + wait;
            if announced.is_none_or(|end| until > end + ANNOUNCE_SLACK) {
                let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                tracing::info!(
                    iteration,
                    wait_ms,
                    limit = limit.as_str(),
                    "the model call waits for the endpoint's shared allowance"
                );
                self.events
                    .emit(
                        EventKind::ModelWaiting,
                        json!({
                            "reason": "rate_limit",
                            "limit": limit.as_str(),
                            "wait_ms": wait_ms,
                            "iteration": iteration,
                        }),
                    )
                    .await?;
                announced = Some(until);
            }
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return Err(interrupted(self.deadline)),
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Counts a reply's `tokens` (charged to the allowance, added to the
    /// project's usage). A gate that can not take them is logged and the run
    /// goes on: the reply is already paid for.
    pub(crate) async fn after_reply(&self, tokens: u64) {
        if let Err(err) = self.gate.spent(self.allowance, tokens).await {
            tracing::warn!(tokens, error = %err, "could not count the model call's tokens");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_runner_agent::{EmitError, GateError, Limit};
    use agent_runner_domain::budget::{BudgetPeriod, OverBudget};
    use futures_util::future::BoxFuture;
    use serde_json::Value;
    use std::sync::Mutex;

    /// Answers `acquire` from a list, then Go; optionally over budget.
    #[derive(Default)]
    struct Scripted {
        admissions: Mutex<Vec<Admission>>,
        asked: Mutex<u32>,
        over: Option<OverBudget>,
    }

    impl ModelGate for Scripted {
        fn acquire<'a>(&'a self, _: &'a Allowance) -> BoxFuture<'a, Result<Admission, GateError>> {
            *self.asked.lock().expect("lock") += 1;
            let next = self.admissions.lock().expect("lock").pop();
            Box::pin(async move { Ok(next.unwrap_or(Admission::Go)) })
        }

        fn throttled<'a>(
            &'a self,
            _: &'a Allowance,
            _: Duration,
        ) -> BoxFuture<'a, Result<(), GateError>> {
            Box::pin(async { Ok(()) })
        }

        fn spent<'a>(&'a self, _: &'a Allowance, _: u64) -> BoxFuture<'a, Result<(), GateError>> {
            Box::pin(async { Ok(()) })
        }

        fn over_budget(&self) -> BoxFuture<'_, Result<Option<OverBudget>, GateError>> {
            let over = self.over;
            Box::pin(async move { Ok(over) })
        }
    }

    #[derive(Default)]
    struct Events(Mutex<Vec<(EventKind, Value)>>);

    impl EventSink for Events {
        fn emit(&self, kind: EventKind, payload: Value) -> BoxFuture<'_, Result<(), EmitError>> {
            self.0.lock().expect("lock").push((kind, payload));
            Box::pin(async { Ok(()) })
        }
    }

    fn allowance() -> Allowance {
        Allowance {
            key: "http://model/v1/chat/completions m".into(),
            requests_per_minute: Some(60),
            tokens_per_minute: None,
        }
    }

    fn wait(ms: u64, limit: Limit) -> Admission {
        Admission::Wait {
            wait: Duration::from_millis(ms),
            limit,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_waits_out_each_answer_and_announces_only_a_longer_wait() {
        // Popped from the end: 2 s, then 0.5 s (within the announced end),
        // then 3 s (past it), then Go.
        let gate = Scripted {
            admissions: Mutex::new(vec![
                wait(3000, Limit::RetryAfter),
                wait(500, Limit::Requests),
                wait(2000, Limit::Requests),
            ]),
            ..Scripted::default()
        };
        let events = Events::default();
        let stop = CancellationToken::new();
        let allowance = allowance();
        let meter = Meter {
            gate: &gate,
            allowance: &allowance,
            events: &events,
            project: "demo",
            stop: &stop,
            deadline: Instant::now() + Duration::from_secs(3600),
        };
        let began = Instant::now();
        meter.before_call(4).await.expect("goes");
        assert_eq!(began.elapsed(), Duration::from_millis(5500));
        assert_eq!(*gate.asked.lock().expect("lock"), 4);
        let events = events.0.lock().expect("lock").clone();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events.iter().all(|(k, _)| *k == EventKind::ModelWaiting));
        assert_eq!(events[0].1["wait_ms"], 2000);
        assert_eq!(events[0].1["limit"], "requests_per_minute");
        assert_eq!(events[0].1["iteration"], 4);
        assert_eq!(events[1].1["limit"], "retry_after");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_during_the_wait_ends_it_at_once() {
        let gate = Scripted {
            admissions: Mutex::new(vec![wait(60_000, Limit::Tokens)]),
            ..Scripted::default()
        };
        let events = Events::default();
        let stop = CancellationToken::new();
        let allowance = allowance();
        let meter = Meter {
            gate: &gate,
            allowance: &allowance,
            events: &events,
            project: "demo",
            stop: &stop,
            deadline: Instant::now() + Duration::from_secs(3600),
        };
        let canceller = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                stop.cancel();
            })
        };
        let began = Instant::now();
        assert_eq!(meter.before_call(1).await, Err(AgentError::Cancelled));
        assert_eq!(began.elapsed(), Duration::from_secs(1));
        canceller.await.expect("canceller");
    }

    #[tokio::test]
    async fn a_project_over_its_budget_fails_the_call_naming_the_budget() {
        let gate = Scripted {
            over: Some(OverBudget {
                period: BudgetPeriod::Month,
                used: 1200,
                limit: 1000,
            }),
            ..Scripted::default()
        };
        let events = Events::default();
        let stop = CancellationToken::new();
        let allowance = allowance();
        let meter = Meter {
            gate: &gate,
            allowance: &allowance,
            events: &events,
            project: "demo",
            stop: &stop,
            deadline: Instant::now() + Duration::from_secs(3600),
        };
        assert_eq!(
            meter.before_call(1).await,
            Err(AgentError::Fatal(
                "project demo is over its monthly token budget: used 1200 of 1000 tokens".into()
            ))
        );
        assert_eq!(*gate.asked.lock().expect("lock"), 0, "no slot taken");
    }
}

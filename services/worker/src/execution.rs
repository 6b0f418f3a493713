//! One attempt of a run: execute the agent under a deadline and a cancel
//! handle, then commit how it ended (fenced by the attempt) and say what the
//! delivery should do next.

use crate::db_retry::with_db_retry;
use crate::dead_letter::DeadLetterReason;
use crate::inflight::{InFlight, StopReason};
use crate::model_gate::StoreGate;
use crate::sink::EventLog;
use crate::state::WorkerState;
use agent_runner_agent::{
    AgentContext, AgentError, AgentRegistry, ModelGate, ProjectSpec, RunSpec, StoredBranch,
};
use agent_runner_domain::RunStatus;
use agent_runner_domain::budget::TokenBudget;
use agent_runner_store::Pool;
use agent_runner_store::attempt::{self, Ending, HandedOff, Handoff, NewEvent};
use agent_runner_store::branches;
use agent_runner_store::projects::Project;
use agent_runner_store::runs::Run;
use agent_runner_telemetry::TraceParent;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What the delivery must do once the attempt's ending is committed.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Ack: the run's state is final for this delivery.
    Ack,
    /// Ack, and put a copy in the dead-letter queue with this reason.
    DeadLetter(DeadLetterReason),
    /// Publish into the retry tier of `delay_ms`, mark `outbox_id` sent, ack.
    Delay {
        /// Tier to wait in.
        delay_ms: u64,
        /// Outbox row covering the hand-off.
        outbox_id: i64,
        /// Attempt the delayed message is for.
        next_attempt: i32,
    },
    /// Nack with requeue: the run's state could not be committed; another
    /// delivery will pick it up.
    Requeue,
    /// Nack with requeue, then mark `outbox_id` sent: the run was handed
    /// back (shutdown) and the requeued delivery stands for the hand-off.
    HandBack {
        /// Outbox row covering the hand-off.
        outbox_id: i64,
    },
}

/// Executes attempts: the agents and the runs in flight, over the worker's
/// shared state.
#[derive(Clone)]
pub struct Executor {
    /// Pool, metrics, retry tiers.
    pub state: WorkerState,
    /// Agents by kind.
    pub agents: AgentRegistry,
    /// Runs in flight.
    pub inflight: InFlight,
}

impl Executor {
    /// Executes the claimed attempt (`messages`: the run's follow-ups; its
    /// claim began at `claim_began`) and commits its ending; a retry
    /// hand-off keeps `trace` for the next attempt.
    pub async fn execute(
        &self,
        run: &Run,
        project: &Project,
        messages: Vec<String>,
        trace: &TraceParent,
        claim_began: std::time::Instant,
    ) -> Disposition {
        let stopper = self.inflight.insert(run.id, run.attempt, claim_began);
        let agent_label = [run.agent.as_str()];
        self.state
            .metrics
            .started
            .with_label_values(&agent_label)
            .inc();
        self.state.metrics.in_flight.inc();
        if run.attempt == 1
            && let Some(started) = run.started_at
        {
            let pickup = (started - run.created_at).num_microseconds().unwrap_or(0) as f64 / 1e6;
            self.state
                .metrics
                .pickup_latency
                .with_label_values(&agent_label)
                .observe(pickup.max(0.0));
        }
        let began = Instant::now();
        let deadline =
            Instant::now() + Duration::from_secs(u64::try_from(run.timeout_s).unwrap_or(1));
        let events = EventLog::new(self.state.pool.clone(), run.id, run.attempt);
        let outcome = match self.agents.get(&run.agent) {
            None => Err(AgentError::Fatal(format!(
                "no agent `{}` in this worker",
                run.agent
            ))),
            Some(agent) => {
                let branch = self.branch(run);
                let spec = run_spec(run, deadline, messages, branch);
                let gate = model_gate(&self.state.pool, project);
                let project = project_spec(project);
                let ctx = AgentContext {
                    run: &spec,
                    project: &project,
                    events: &events,
                    gate,
                    cancel: stopper.token(),
                };
                let deadline_guard = {
                    let stopper = stopper.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep_until(deadline).await;
                        stopper.stop(StopReason::Timeout);
                    })
                };
                let result = agent.execute(ctx).await;
                deadline_guard.abort();
                result
            }
        };
        stopper.mark_ending();
        let stop = stopper.reason();
        let pending = events.close().await;
        let disposition = self.commit(run, outcome, stop, &pending, trace).await;
        self.inflight.remove(run.id, run.attempt);
        self.state.metrics.in_flight.dec();
        self.state
            .metrics
            .attempt_duration
            .with_label_values(&agent_label)
            .observe(began.elapsed().as_secs_f64());
        disposition
    }

    /// When an earlier attempt left a result, where its branch snapshot is
    /// stored (read if the agent needs it).
    fn branch(&self, run: &Run) -> StoredBranch {
        if run.result.is_some() {
            stored_branch(&self.state.pool, run.id)
        } else {
            StoredBranch::none()
        }
    }

    async fn commit(
        &self,
        run: &Run,
        outcome: Result<agent_runner_agent::AgentOutcome, AgentError>,
        stop: Option<StopReason>,
        pending: &[NewEvent],
        trace: &TraceParent,
    ) -> Disposition {
        let attempt = run.attempt;
        let outcome = match (outcome, stop) {
            // A stop reason explains an agent that returned early.
            (Err(AgentError::Cancelled), Some(reason))
            | (Err(AgentError::Transient(_)), Some(reason)) => Err(reason),
            (Err(AgentError::Cancelled), None) => Err(StopReason::CancelRequested),
            (other, _) => Ok(other),
        };
        match outcome {
            Err(StopReason::Lost) | Ok(Err(AgentError::Fenced)) => {
                tracing::warn!(run.id = %run.id, attempt, "attempt was fenced out; dropping it");
                Disposition::Ack
            }
            Err(StopReason::CancelRequested) => {
                self.end(run, pending, Ending::Cancelled, None).await
            }
            Err(StopReason::Timeout) => {
                let ending = Ending::Failed {
                    error: format!("timeout: exceeded {} s", run.timeout_s),
                };
                self.end(run, pending, ending, Some(DeadLetterReason::Timeout))
                    .await
            }
            Err(StopReason::Shutdown) => self.hand_back(run, pending, trace).await,
            Ok(Ok(outcome)) => {
                let ending = if outcome.awaiting_approval {
                    Ending::AwaitingApproval {
                        result: outcome.result,
                        branch: outcome.branch,
                    }
                } else {
                    Ending::Completed {
                        result: outcome.result,
                        branch: outcome.branch,
                    }
                };
                self.end(run, pending, ending, None).await
            }
            Ok(Err(AgentError::Transient(error))) if attempt < run.max_attempts => {
                self.retry(run, pending, &error, trace).await
            }
            Ok(Err(AgentError::Transient(error))) => {
                let ending = Ending::Failed {
                    error: error.clone(),
                };
                let reason = DeadLetterReason::AttemptsExhausted {
                    attempts: attempt,
                    error,
                };
                self.end(run, pending, ending, Some(reason)).await
            }
            Ok(Err(AgentError::Fatal(error))) => {
                let ending = Ending::Failed {
                    error: error.clone(),
                };
                self.end(run, pending, ending, Some(DeadLetterReason::Fatal(error)))
                    .await
            }
            Ok(Err(AgentError::Cancelled)) => self.end(run, pending, Ending::Cancelled, None).await,
        }
    }

    /// Ends a claimed attempt past the run's `max_attempts` (earlier
    /// attempts were lost with their workers) as FAILED, like any other
    /// ending, and dead-letters its message.
    pub async fn end_lost(&self, run: &Run) -> Disposition {
        let reason = DeadLetterReason::AttemptsLost {
            attempt: run.attempt,
            max_attempts: run.max_attempts,
        };
        let ending = Ending::Failed {
            error: reason.to_string(),
        };
        self.end(run, &[], ending, Some(reason)).await
    }

    /// Commits the attempt's ending; a FAILED run's message is dead-lettered
    /// with `dead_letter` as the reason. (The ending committed may differ
    /// from `ending`: a cancel request accepted meanwhile wins.)
    async fn end(
        &self,
        run: &Run,
        pending: &[NewEvent],
        ending: Ending,
        dead_letter: Option<DeadLetterReason>,
    ) -> Disposition {
        let committed = with_db_retry(|| {
            self.state
                .writes
                .finish(run.id, run.attempt, pending, &ending)
        })
        .await;
        match committed {
            Ok(Some(status)) => {
                self.state
                    .metrics
                    .finished
                    .with_label_values(&[status.as_str(), run.agent.as_str()])
                    .inc();
                tracing::info!(run.id = %run.id, attempt = run.attempt, ending = status.as_str(), "run ended");
                match dead_letter {
                    Some(reason) if status == RunStatus::Failed => Disposition::DeadLetter(reason),
                    _ => Disposition::Ack,
                }
            }
            Ok(None) => {
                tracing::warn!(run.id = %run.id, attempt = run.attempt, "ending was fenced out");
                Disposition::Ack
            }
            Err(err) => {
                tracing::error!(run.id = %run.id, error = %err, "cannot commit the ending; requeueing");
                Disposition::Requeue
            }
        }
    }

    async fn retry(
        &self,
        run: &Run,
        pending: &[NewEvent],
        error: &str,
        trace: &TraceParent,
    ) -> Disposition {
        let next_attempt = run.attempt + 1;
        let (high, low) = run.id.as_u64_pair();
        let delay_ms = self.state.tiers.tier_for_retry(next_attempt, high ^ low);
        let traceparent = trace.to_header();
        let handoff = Handoff {
            error,
            delay_ms: delay_ms as i64,
            traceparent: Some(&traceparent),
            handed_back: false,
        };
        let handed = with_db_retry(|| {
            attempt::retry_handoff(&self.state.pool, run.id, run.attempt, pending, handoff)
        })
        .await;
        match handed {
            Ok(Some(HandedOff::Retrying { outbox_id })) => {
                self.state
                    .metrics
                    .finished
                    .with_label_values(&["RETRYING", run.agent.as_str()])
                    .inc();
                tracing::info!(run.id = %run.id, attempt = run.attempt, delay_ms, error, "attempt failed; retrying");
                Disposition::Delay {
                    delay_ms,
                    outbox_id,
                    next_attempt,
                }
            }
            Ok(Some(HandedOff::Cancelled)) => {
                self.count_cancelled_handoff(run);
                Disposition::Ack
            }
            Ok(None) => Disposition::Ack,
            Err(err) => {
                tracing::error!(run.id = %run.id, error = %err, "cannot commit the retry; requeueing");
                Disposition::Requeue
            }
        }
    }

    async fn hand_back(&self, run: &Run, pending: &[NewEvent], trace: &TraceParent) -> Disposition {
        // Mark it RETRYING (claimable at once by another worker; the attempt
        // is given back, not used up), then requeue the delivery, which
        // stands for the hand-off's outbox row. Should the commit fail, the
        // lease expires and the requeued delivery takes the run over anyway.
        let traceparent = trace.to_header();
        let handoff = Handoff {
            error: "worker shut down",
            delay_ms: 0,
            traceparent: Some(&traceparent),
            handed_back: true,
        };
        let handed = with_db_retry(|| {
            attempt::retry_handoff(&self.state.pool, run.id, run.attempt, pending, handoff)
        })
        .await;
        match handed {
            Ok(Some(HandedOff::Retrying { outbox_id })) => {
                tracing::warn!(run.id = %run.id, attempt = run.attempt, "handed back at shutdown");
                Disposition::HandBack { outbox_id }
            }
            Ok(Some(HandedOff::Cancelled)) => {
                self.count_cancelled_handoff(run);
                Disposition::Ack
            }
            Ok(None) | Err(_) => Disposition::Requeue,
        }
    }

    fn count_cancelled_handoff(&self, run: &Run) {
        self.state
            .metrics
            .finished
            .with_label_values(&["CANCELLED", run.agent.as_str()])
            .inc();
        tracing::info!(run.id = %run.id, attempt = run.attempt, "cancel requested; run ended instead of retrying");
    }
}

fn run_spec(run: &Run, deadline: Instant, messages: Vec<String>, branch: StoredBranch) -> RunSpec {
    RunSpec {
        id: run.id,
        goal: run.goal.clone(),
        agent: run.agent.clone(),
        params: run.params.clone(),
        attempt: run.attempt,
        max_attempts: run.max_attempts,
        deadline,
        messages,
        previous_result: run.result.clone(),
        branch,
    }
}

/// The run's branch snapshot in `run_branches`, read when asked for.
pub(crate) fn stored_branch(pool: &Pool, run_id: uuid::Uuid) -> StoredBranch {
    let pool = pool.clone();
    StoredBranch::lazy(move || {
        let pool = pool.clone();
        Box::pin(async move {
            with_db_retry(|| branches::get(&pool, run_id))
                .await
                .map_err(|e| e.to_string())
        })
    })
}

fn project_spec(project: &Project) -> ProjectSpec {
    ProjectSpec {
        id: project.id,
        name: project.name.clone(),
        repo_url: project.repo_url.clone(),
        default_branch: project.default_branch.clone(),
        settings: project.settings.clone(),
    }
}

/// The model gate of an attempt on `project`. Budget settings that do not
/// parse (the api refuses them; only a row written past it can hold them)
/// count as no budget.
fn model_gate(pool: &Pool, project: &Project) -> Arc<dyn ModelGate> {
    let budget = TokenBudget::from_settings(&project.settings).unwrap_or_default();
    Arc::new(StoreGate::new(pool.clone(), project.id, budget))
}

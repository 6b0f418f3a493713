//! The worker's event log: events an agent emits in a burst are written in
//! one fenced statement, events still queued commit with the ending, and an
//! attempt that lost its run learns it at its next emit.

use agent_runner_agent::{EmitError, EventSink};
use agent_runner_domain::{EventKind, RunStatus};
use agent_runner_store::attempt::{self, Ending};
use agent_runner_store::claim::{self, Claim};
use agent_runner_store::pool;
use agent_runner_store::projects::{self, NewProject};
use agent_runner_store::runs::{self, Created, NewRun};
use agent_runner_tests::{Outage, TestEnv, host_port};
use agent_runner_worker::sink::EventLog;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// A run claimed by this test as attempt 1 (no api, no broker: the store
/// alone).
pub(crate) async fn claimed_run(env: &TestEnv) -> Uuid {
    let project = projects::create(
        &env.pool,
        &NewProject {
            name: "events".into(),
            repo_url: None,
            default_branch: "main".into(),
            settings: json!({}),
        },
    )
    .await
    .expect("project");
    let created = runs::create(
        &env.pool,
        &NewRun {
            project_id: project.id,
            goal: "log events".into(),
            agent: "simulated".into(),
            params: json!({}),
            max_attempts: 3,
            timeout_s: 60,
            priority: 0,
            idempotency: None,
            traceparent: None,
        },
    )
    .await
    .expect("run");
    let Created::New { run, .. } = created else {
        panic!("a new run was expected");
    };
    let claimed = claim::claim(&env.pool, run.id, "event-log-test", 30.0)
        .await
        .expect("claim");
    assert!(matches!(claimed, Claim::Claimed { .. }), "{claimed:?}");
    run.id
}

/// `(seq, kind, the writing transaction)` of the run's events.
pub(crate) async fn timeline(env: &TestEnv, run_id: Uuid) -> Vec<(i32, String, String)> {
    env.sql(
        "SELECT seq, kind, xmin::text FROM events WHERE run_id = $1 ORDER BY seq",
        &[&run_id],
    )
    .await
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// The kinds of `events` in seq order, checking that seq runs 1, 2, 3, ….
fn dense_kinds(events: &[(i32, String, String)]) -> Vec<&str> {
    let seqs: Vec<i32> = events.iter().map(|(s, _, _)| *s).collect();
    let expected: Vec<i32> = (1..=events.len() as i32).collect();
    assert_eq!(seqs, expected, "seq is dense from 1");
    events.iter().map(|(_, k, _)| k.as_str()).collect()
}

/// RUN_CREATED, RUN_STARTED and the three steps [`emit_steps`] emits.
const BEFORE_THE_ENDING: [&str; 5] = [
    "RUN_CREATED",
    "RUN_STARTED",
    "AGENT_THINKING",
    "PLAN_GENERATED",
    "EXECUTING",
];

const STEPS: [EventKind; 3] = [
    EventKind::AgentThinking,
    EventKind::PlanGenerated,
    EventKind::Executing,
];

async fn emit_steps(log: &EventLog) {
    for (i, kind) in STEPS.into_iter().enumerate() {
        log.emit(kind, json!({"step": i})).await.expect("emit");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_events_is_written_in_one_statement_in_order() {
    let env = TestEnv::new().await;
    let run_id = claimed_run(&env).await;
    let log = EventLog::with_linger(env.pool.clone(), run_id, 1, Duration::from_millis(100));
    emit_steps(&log).await;

    let mut events = Vec::new();
    for _ in 0..100 {
        events = timeline(&env, run_id).await;
        if events.len() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dense_kinds(&events), BEFORE_THE_ENDING);
    let writers: std::collections::BTreeSet<&str> =
        events[2..].iter().map(|(_, _, x)| x.as_str()).collect();
    assert_eq!(
        writers.len(),
        1,
        "one transaction wrote the burst: {events:?}"
    );
    assert!(log.close().await.is_empty(), "nothing left queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_still_queued_commit_with_the_ending() {
    let env = TestEnv::new().await;
    let run_id = claimed_run(&env).await;
    // A linger longer than the test: nothing is flushed before the ending.
    let log = EventLog::with_linger(env.pool.clone(), run_id, 1, Duration::from_secs(60));
    emit_steps(&log).await;
    let pending = log.close().await;
    assert_eq!(pending.len(), 3);
    assert_eq!(timeline(&env, run_id).await.len(), 2, "none written yet");

    let ended = attempt::finish(
        &env.pool,
        run_id,
        1,
        &pending,
        &Ending::Completed {
            result: json!({}),
            branch: None,
        },
    )
    .await
    .expect("finish");
    assert_eq!(ended, Some(RunStatus::Completed));
    let events = timeline(&env, run_id).await;
    assert_eq!(
        dense_kinds(&events),
        [&BEFORE_THE_ENDING[..], &["RUN_COMPLETED"]].concat()
    );
    assert_eq!(
        events[2].2, events[5].2,
        "the steps and the ending share a transaction"
    );
    let status = env
        .sql(
            "SELECT status, last_seq FROM runs WHERE id = $1",
            &[&run_id],
        )
        .await;
    assert_eq!(status[0].get::<_, String>(0), "COMPLETED");
    assert_eq!(status[0].get::<_, i32>(1), 6);
    assert_eq!(
        log.emit(EventKind::Executing, json!({})).await,
        Err(EmitError::Fenced),
        "a closed log takes no more events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_that_lost_its_run_is_refused_at_its_next_emit_and_writes_nothing() {
    let env = TestEnv::new().await;
    let run_id = claimed_run(&env).await;
    // Another attempt takes the run over.
    env.sql(
        "UPDATE runs SET attempt = attempt + 1 WHERE id = $1",
        &[&run_id],
    )
    .await;
    let log = EventLog::with_linger(env.pool.clone(), run_id, 1, Duration::from_millis(10));
    log.emit(EventKind::AgentThinking, json!({}))
        .await
        .expect("queued");
    let mut refused = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        match log.emit(EventKind::PlanGenerated, json!({})).await {
            Ok(()) => {}
            Err(err) => {
                refused = Some(err);
                break;
            }
        }
    }
    assert_eq!(refused, Some(EmitError::Fenced));
    assert_eq!(
        timeline(&env, run_id).await.len(),
        2,
        "only RUN_CREATED and RUN_STARTED"
    );
    assert!(
        log.close().await.is_empty(),
        "a fenced attempt keeps nothing to write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_hand_off_carries_the_queued_events_before_run_retrying() {
    let env = TestEnv::new().await;
    let run_id = claimed_run(&env).await;
    let log = EventLog::with_linger(env.pool.clone(), run_id, 1, Duration::from_secs(60));
    emit_steps(&log).await;
    let pending = log.close().await;
    let outbox = attempt::retry_handoff(
        &env.pool,
        run_id,
        1,
        &pending,
        attempt::Handoff {
            error: "flaky",
            delay_ms: 1000,
            traceparent: None,
            handed_back: false,
        },
    )
    .await
    .expect("hand-off");
    assert!(matches!(outbox, Some(attempt::HandedOff::Retrying { .. })));
    let events = timeline(&env, run_id).await;
    assert_eq!(
        dense_kinds(&events),
        [&BEFORE_THE_ENDING[..], &["RUN_RETRYING"]].concat()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_delays_the_timeline_but_does_not_fail_the_attempt() {
    let env = TestEnv::new().await;
    let run_id = claimed_run(&env).await;
    let outage = Outage::forward(host_port(&env.database_url)).await;
    let pool = pool::connect(&outage.url_through(&env.database_url), 2).expect("pool");
    let log = EventLog::with_linger(pool, run_id, 1, Duration::from_millis(10));
    log.emit(EventKind::AgentThinking, json!({}))
        .await
        .expect("queued");
    wait_for_events(&env, run_id, 3).await;

    outage.cut();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        log.emit(EventKind::Executing, json!({}))
            .await
            .expect("an outage does not fail the agent's emits");
    }
    assert_eq!(
        timeline(&env, run_id).await.len(),
        3,
        "nothing written while cut"
    );

    outage.restore();
    wait_for_events(&env, run_id, 13).await;
    let events = timeline(&env, run_id).await;
    let kinds = dense_kinds(&events);
    assert_eq!(kinds[2], "AGENT_THINKING");
    assert!(kinds[3..].iter().all(|k| *k == "EXECUTING"), "{kinds:?}");
    assert!(log.close().await.is_empty(), "everything was written");
}

async fn wait_for_events(env: &TestEnv, run_id: Uuid, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while timeline(env, run_id).await.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} events expected: {:?}",
            timeline(env, run_id).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

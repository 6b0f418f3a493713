//! A cancel request racing an attempt's ending, at the store: whatever the
//! attempt commits after the request was accepted, the run ends CANCELLED,
//! and a request that meets a hand-off cancels the run at once instead of
//! being refused.

use crate::event_log::{claimed_run, timeline};
use agent_runner_domain::RunStatus;
use agent_runner_store::attempt::{self, Ending, HandedOff, Handoff};
use agent_runner_store::runs::{self, CancelOutcome};
use agent_runner_tests::TestEnv;
use serde_json::json;
use uuid::Uuid;

fn kinds(events: &[(i32, String, String)]) -> Vec<&str> {
    events.iter().map(|(_, kind, _)| kind.as_str()).collect()
}

async fn status_and_result(env: &TestEnv, run_id: Uuid) -> (String, Option<serde_json::Value>) {
    let rows = env
        .sql("SELECT status, result FROM runs WHERE id = $1", &[&run_id])
        .await;
    (rows[0].get(0), rows[0].get(1))
}

fn handoff(handed_back: bool) -> Handoff<'static> {
    Handoff {
        error: "flaky",
        delay_ms: 1000,
        traceparent: None,
        handed_back,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_that_completes_after_a_cancel_was_accepted_ends_the_run_cancelled() {
    let env = TestEnv::new().await;
    let run_id = claimed_run(&env).await;
    let outcome = runs::cancel(&env.pool, run_id).await.expect("cancel");
    assert!(
        matches!(outcome, CancelOutcome::Requested(_)),
        "{outcome:?}"
    );

    let ended = attempt::finish(
        &env.pool,
        run_id,
        1,
        &[],
        &Ending::Completed {
            result: json!({"done": true}),
            branch: None,
        },
    )
    .await
    .expect("finish");
    assert_eq!(ended, Some(RunStatus::Cancelled));
    assert_eq!(
        status_and_result(&env, run_id).await,
        ("CANCELLED".to_owned(), None)
    );
    let events = timeline(&env, run_id).await;
    assert_eq!(kinds(&events).last(), Some(&"RUN_CANCELLED"));
    assert!(!kinds(&events).contains(&"RUN_COMPLETED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_that_fails_transiently_after_a_cancel_was_accepted_is_not_retried() {
    let env = TestEnv::new().await;
    let run_id = claimed_run(&env).await;
    runs::cancel(&env.pool, run_id).await.expect("cancel");

    let handed = attempt::retry_handoff(&env.pool, run_id, 1, &[], handoff(false))
        .await
        .expect("hand-off");
    assert_eq!(handed, Some(HandedOff::Cancelled));
    assert_eq!(status_and_result(&env, run_id).await.0, "CANCELLED");
    let outbox = env
        .sql(
            "SELECT count(*) FROM outbox WHERE run_id = $1 AND attempt = 2",
            &[&run_id],
        )
        .await;
    assert_eq!(outbox[0].get::<_, i64>(0), 0, "no next attempt published");
    let events = timeline(&env, run_id).await;
    assert_eq!(kinds(&events).last(), Some(&"RUN_CANCELLED"));
    assert!(!kinds(&events).contains(&"RUN_RETRYING"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_that_meets_a_retrying_run_cancels_it_at_once() {
    let env = TestEnv::new().await;
    let run_id = claimed_run(&env).await;
    let handed = attempt::retry_handoff(&env.pool, run_id, 1, &[], handoff(false))
        .await
        .expect("hand-off");
    assert!(matches!(handed, Some(HandedOff::Retrying { .. })));

    let outcome = runs::cancel(&env.pool, run_id).await.expect("cancel");
    let CancelOutcome::Cancelled(run) = outcome else {
        panic!("cancelled at once expected, got {outcome:?}");
    };
    assert_eq!(run.status, RunStatus::Cancelled);
    assert!(run.finished_at.is_some());
    let events = timeline(&env, run_id).await;
    assert_eq!(kinds(&events).last(), Some(&"RUN_CANCELLED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_back_at_shutdown_does_not_use_up_an_attempt() {
    let env = TestEnv::new().await;
    let run_id = claimed_run(&env).await;
    let handed = attempt::retry_handoff(&env.pool, run_id, 1, &[], handoff(true))
        .await
        .expect("hand-off");
    assert!(matches!(handed, Some(HandedOff::Retrying { .. })));
    let rows = env
        .sql(
            "SELECT status, max_attempts FROM runs WHERE id = $1",
            &[&run_id],
        )
        .await;
    assert_eq!(rows[0].get::<_, String>(0), "RETRYING");
    assert_eq!(rows[0].get::<_, i32>(1), 4, "3 attempts, one given back");
    let payload = env
        .sql(
            "SELECT payload FROM events WHERE run_id = $1 AND kind = 'RUN_RETRYING'",
            &[&run_id],
        )
        .await;
    assert_eq!(
        payload[0].get::<_, serde_json::Value>(0)["handed_back"],
        true
    );

    // A failure hand-off, by contrast, keeps the budget.
    let again = env
        .sql(
            "UPDATE runs SET status = 'RUNNING', attempt = 2 WHERE id = $1 RETURNING id",
            &[&run_id],
        )
        .await;
    assert_eq!(again.len(), 1);
    attempt::retry_handoff(&env.pool, run_id, 2, &[], handoff(false))
        .await
        .expect("hand-off");
    let rows = env
        .sql("SELECT max_attempts FROM runs WHERE id = $1", &[&run_id])
        .await;
    assert_eq!(rows[0].get::<_, i32>(0), 4);
}

//! The reaper: runs that no delivery will bring back are re-enqueued (or
//! ended) by the api, and runs that finished are left alone.

use agent_runner_store::attempt::{self, Ending};
use agent_runner_store::claim::{self, Claim};
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

/// A fast reaper; `queued_after_s` decides whether stale QUEUED runs count.
fn reaper(queued_after_s: &'static str) -> [(&'static str, &'static str); 3] {
    [
        ("REAPER_INTERVAL_MS", "200"),
        ("REAPER_LEASE_GRACE_S", "1"),
        ("REAPER_QUEUED_AFTER_S", queued_after_s),
    ]
}

/// Waits until the run's message is in the work queue, then takes it away:
/// the message is lost, as with a purged queue or one dead-lettered early.
async fn lose_message(env: &TestEnv) {
    let queue = format!("{}.work", env.prefix);
    for _ in 0..100 {
        if env.rabbit.ready_count(&env.amqp_url, &queue).await > 0 {
            let taken = env.rabbit.drain(&env.amqp_url, &queue).await;
            assert_eq!(taken.len(), 1, "exactly the run's message was waiting");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the run's message never reached {queue}");
}

/// Claims the run as a worker that then vanishes: RUNNING under `worker`
/// with a lease that runs out in half a second and no delivery behind it.
async fn claim_and_vanish(env: &TestEnv, id: &str, worker: &str) {
    let run_id: Uuid = id.parse().expect("run id");
    let claimed = claim::claim(&env.pool, run_id, worker, 0.5)
        .await
        .expect("claim");
    assert!(matches!(claimed, Claim::Claimed { .. }), "{claimed:?}");
}

fn retrying_payloads(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "RUN_RETRYING")
        .map(|e| &e["payload"])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_orphaned_running_run_without_a_delivery_is_run_again_as_the_next_attempt() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &reaper("3600")).await;
    let project = api.project().await;
    let id = api.submit(&project, json!({"step_delay_ms": 0})).await;
    lose_message(&env).await;
    claim_and_vanish(&env, &id, "vanished").await;

    let worker = WorkerHandle::spawn(&env, &[]).await;
    let run = api
        .wait_for(&id, &["COMPLETED", "FAILED"], Duration::from_secs(20))
        .await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["attempt"], 2);
    assert_eq!(run["worker_id"], worker.id.as_str());
    let events = api.events(&id).await;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "RUN_CREATED",
            "RUN_STARTED",
            "RUN_RETRYING",
            "RUN_STARTED",
            "AGENT_THINKING",
            "PLAN_GENERATED",
            "EXECUTING",
            "RUN_COMPLETED"
        ]
    );
    let retrying = retrying_payloads(&events);
    assert_eq!(retrying[0]["reaped"], true);
    assert_eq!(retrying[0]["worker_id"], "vanished");
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_orphan_on_its_last_attempt_fails_and_one_with_a_cancel_request_is_cancelled() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &reaper("3600")).await;
    let project = api.project().await;
    let last = api
        .submit_body(json!({"project_id": project, "goal": "g", "max_attempts": 1}))
        .await;
    lose_message(&env).await;
    claim_and_vanish(&env, &last, "gone-1").await;
    let cancelled = api.submit(&project, json!({})).await;
    lose_message(&env).await;
    claim_and_vanish(&env, &cancelled, "gone-2").await;
    let (status, _) = api
        .post(&format!("/v1/runs/{cancelled}/cancel"), json!({}))
        .await;
    assert_eq!(status, 202, "a RUNNING run is cancelled by request");

    let run = api
        .wait_for(&last, &["FAILED", "COMPLETED"], Duration::from_secs(15))
        .await;
    assert_eq!(run["status"], "FAILED");
    let error = run["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("lost") && error.contains("gone-1"),
        "{error}"
    );
    assert_eq!(
        api.kinds(&last).await,
        ["RUN_CREATED", "RUN_STARTED", "RUN_FAILED"]
    );
    let run = api
        .wait_for(
            &cancelled,
            &["CANCELLED", "COMPLETED"],
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(run["status"], "CANCELLED");
    assert_eq!(
        api.kinds(&cancelled).await,
        ["RUN_CREATED", "RUN_STARTED", "RUN_CANCELLED"]
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_run_whose_message_was_lost_is_published_again() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &reaper("2")).await;
    let project = api.project().await;
    let id = api.submit(&project, json!({"step_delay_ms": 0})).await;
    lose_message(&env).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let run = api
        .wait_for(&id, &["COMPLETED", "FAILED"], Duration::from_secs(20))
        .await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["attempt"], 1, "the first attempt, published twice");
    let outbox = env
        .sql(
            "SELECT count(*) FROM outbox WHERE run_id = $1::text::uuid",
            &[&id],
        )
        .await;
    assert_eq!(
        outbox[0].get::<_, i64>(0),
        2,
        "the original row and the reaper's"
    );
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_that_finished_after_its_lease_expired_is_left_alone() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &reaper("1")).await;
    let project = api.project().await;
    let id = api.submit(&project, json!({})).await;
    lose_message(&env).await;
    claim_and_vanish(&env, &id, "slow").await;
    let run_id: Uuid = id.parse().expect("run id");
    let ended = attempt::finish(
        &env.pool,
        run_id,
        1,
        &[],
        &Ending::Completed {
            result: json!({"late": true}),
            branch: None,
        },
    )
    .await
    .expect("finish");
    assert!(ended.is_some(), "the attempt still owned the run");

    // Several reaper passes later nothing has changed.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, run) = api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["attempt"], 1);
    assert_eq!(
        api.kinds(&id).await,
        ["RUN_CREATED", "RUN_STARTED", "RUN_COMPLETED"]
    );
    let outbox = env
        .sql(
            "SELECT count(*) FROM outbox WHERE run_id = $1::text::uuid",
            &[&id],
        )
        .await;
    assert_eq!(outbox[0].get::<_, i64>(0), 1, "nothing was re-enqueued");
    api.stop().await;
}

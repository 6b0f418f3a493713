//! Graceful shutdown of workers.

use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_a_worker_during_a_run_lets_the_run_finish() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let id = api.submit(&project, json!({"step_delay_ms": 400})).await;
    api.wait_for(&id, &["RUNNING"], Duration::from_secs(10))
        .await;

    worker.begin_stop();
    let run = api
        .wait_for(
            &id,
            &["COMPLETED", "FAILED", "RETRYING", "QUEUED"],
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(
        run["status"], "COMPLETED",
        "the in-flight run finished during the grace period"
    );
    assert_eq!(run["attempt"], 1);
    worker.join().await;

    // The stopped worker takes nothing new: a run submitted now waits.
    let waiting = api.submit(&project, json!({"step_delay_ms": 0})).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, run) = api.get(&format!("/v1/runs/{waiting}")).await;
    assert_eq!(run["status"], "QUEUED");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_still_going_after_the_grace_period_is_handed_back_and_finished_by_another_worker() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let first = WorkerHandle::spawn(&env, &[("SHUTDOWN_GRACE_S", "0")]).await;
    let project = api.project().await;
    // On its only attempt: being handed back must not use it up.
    let id = api
        .submit_body(json!({
            "project_id": project, "goal": "outlive a worker",
            "params": {"step_delay_ms": 800}, "max_attempts": 1,
        }))
        .await;
    api.wait_for(&id, &["RUNNING"], Duration::from_secs(10))
        .await;
    first.stop().await;
    let (_, run) = api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "RETRYING", "handed back, not lost: {run}");
    assert_eq!(run["max_attempts"], 2, "the attempt was given back: {run}");

    let second = WorkerHandle::spawn(&env, &[]).await;
    let run = api
        .wait_for(&id, &["COMPLETED", "FAILED"], Duration::from_secs(20))
        .await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["attempt"], 2);
    assert_eq!(run["worker_id"], second.id.as_str());
    second.stop().await;
    api.stop().await;
}

//! Cancelling and retrying runs through the api.

use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_queued_run_cancels_it_at_once_and_a_second_cancel_conflicts() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let id = api.submit(&project, json!({})).await;
    let (status, run) = api.post(&format!("/v1/runs/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(run["status"], "CANCELLED");
    assert_eq!(api.kinds(&id).await, ["RUN_CREATED", "RUN_CANCELLED"]);
    let (status, body) = api.post(&format!("/v1/runs/{id}/cancel"), json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "conflict");

    // A worker that starts later drops the delivery of the cancelled run.
    let worker = WorkerHandle::spawn(&env, &[]).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(api.kinds(&id).await, ["RUN_CREATED", "RUN_CANCELLED"]);
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_running_run_stops_it_within_two_seconds() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[("HEARTBEAT_S", "2"), ("LEASE_S", "10")]).await;
    let project = api.project().await;
    let id = api.submit(&project, json!({"step_delay_ms": 5000})).await;
    api.wait_for(&id, &["RUNNING"], Duration::from_secs(10))
        .await;
    let asked = Instant::now();
    let (status, _) = api.post(&format!("/v1/runs/{id}/cancel"), json!({})).await;
    assert_eq!(status, 202);
    let run = api
        .wait_for(
            &id,
            &["CANCELLED", "COMPLETED", "FAILED"],
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(run["status"], "CANCELLED");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "took {:?}",
        asked.elapsed()
    );
    let kinds = api.kinds(&id).await;
    assert_eq!(kinds.last().map(String::as_str), Some("RUN_CANCELLED"));
    assert!(!kinds.contains(&"RUN_COMPLETED".to_owned()));
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_run_can_be_retried_as_a_new_attempt_keeping_its_history() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let id = api
        .submit_body(
            json!({"project_id": project, "goal": "g", "max_attempts": 1,
        "params": {"step_delay_ms": 0, "fail_attempts": 1}}),
        )
        .await;
    api.wait_for(&id, &["FAILED"], Duration::from_secs(20))
        .await;
    let (status, _) = api.post(&format!("/v1/runs/{id}/retry"), json!({})).await;
    assert_eq!(status, 202);
    let run = api
        .wait_for(&id, &["COMPLETED"], Duration::from_secs(20))
        .await;
    assert_eq!(run["attempt"], 2);
    let kinds = api.kinds(&id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "RUN_STARTED").count(), 2);
    assert!(
        kinds.contains(&"RUN_FAILED".to_owned()),
        "history kept: {kinds:?}"
    );
    let (status, _) = api.post(&format!("/v1/runs/{id}/retry"), json!({})).await;
    assert_eq!(status, 409, "a completed run cannot be retried");
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_past_its_deadline_fails_with_reason_timeout() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let id = api
        .submit_body(
            json!({"project_id": project, "goal": "slow", "timeout_s": 1,
        "params": {"step_delay_ms": 3000}}),
        )
        .await;
    let run = api
        .wait_for(&id, &["FAILED", "COMPLETED"], Duration::from_secs(10))
        .await;
    assert_eq!(run["status"], "FAILED");
    assert!(
        run["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("timeout")),
        "{run}"
    );
    worker.stop().await;
    api.stop().await;
}

//! Permanent failures, malformed messages and duplicate deliveries.

use agent_runner_domain::JobMessage;
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permanent_failure_fails_after_max_attempts_and_is_dead_lettered_with_its_reason() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let id = api
        .submit_body(
            json!({"project_id": project, "goal": "doomed", "max_attempts": 2,
        "params": {"step_delay_ms": 0, "fail": "permanent"}}),
        )
        .await;

    let run = api
        .wait_for(&id, &["FAILED", "COMPLETED"], Duration::from_secs(30))
        .await;
    assert_eq!(run["status"], "FAILED");
    assert_eq!(run["attempt"], 2);
    assert!(
        run["error"]
            .as_str()
            .is_some_and(|e| e.contains("simulated failure")),
        "{run}"
    );
    let kinds = api.kinds(&id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "RUN_RETRYING").count(), 1);
    assert_eq!(kinds.last().map(String::as_str), Some("RUN_FAILED"));

    let dead_queue = format!("{}.dead", env.prefix);
    let mut dead = Vec::new();
    for _ in 0..50 {
        dead = env.rabbit.drain(&env.amqp_url, &dead_queue).await;
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id.as_deref(), Some(id.as_str()));
    let reason = dead[0].reason.clone().unwrap_or_default();
    assert!(reason.starts_with("failed after 2 attempts"), "{reason}");
    assert_eq!(dead[0].attempt, Some(2), "{:?}", dead[0]);
    assert_eq!(dead[0].project_id.as_deref(), Some(project.as_str()));
    assert_eq!(dead[0].app_id.as_deref(), Some("agent-runner-worker"));
    assert_eq!(dead[0].kind.as_deref(), Some("dead_letter"));
    let metrics = reqwest::get(format!("{}/metrics", worker.probe_url))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .lines()
            .any(|l| l == "agent_runner_dead_lettered_total{reason=\"attempts_exhausted\"} 1"),
        "{metrics}"
    );
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_malformed_message_is_dead_lettered_and_the_next_good_run_completes() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let work_exchange = format!("{}.work", env.prefix);
    env.rabbit
        .publish_raw(
            &env.amqp_url,
            &work_exchange,
            "run",
            b"{not json",
            "garbage-1",
        )
        .await;
    env.rabbit
        .publish_raw(
            &env.amqp_url,
            &work_exchange,
            "run",
            br#"{"type":"launch_rockets"}"#,
            "garbage-2",
        )
        .await;

    let project = api.project().await;
    let id = api.submit(&project, json!({"step_delay_ms": 0})).await;
    let run = api
        .wait_for(&id, &["COMPLETED", "FAILED"], Duration::from_secs(20))
        .await;
    assert_eq!(run["status"], "COMPLETED");

    let dead_queue = format!("{}.dead", env.prefix);
    let mut dead = Vec::new();
    for _ in 0..50 {
        dead.extend(env.rabbit.drain(&env.amqp_url, &dead_queue).await);
        if dead.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead.len(), 2, "both bad messages are dead-lettered");
    assert!(dead.iter().all(|d| {
        d.reason
            .as_deref()
            .is_some_and(|r| r.starts_with("malformed message"))
    }));
    assert!(
        dead.iter().any(|d| d.body == b"{not json"),
        "the body is kept as it was"
    );
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_message_for_a_completed_run_adds_no_events() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let id = api.submit(&project, json!({"step_delay_ms": 0})).await;
    api.wait_for(&id, &["COMPLETED"], Duration::from_secs(20))
        .await;
    let before = api.events(&id).await;
    assert_eq!(before.len(), 6);

    let run_id: uuid::Uuid = id.parse().expect("uuid");
    let body = JobMessage::ExecuteRun { run_id }.to_bytes();
    let work_exchange = format!("{}.work", env.prefix);
    for _ in 0..3 {
        env.rabbit
            .publish_raw(&env.amqp_url, &work_exchange, "run", &body, &id)
            .await;
    }
    // Wait until the worker has acked all three duplicates (and the
    // original): the management api's statistics lag by a few seconds.
    let work_queue = format!("{}.work", env.prefix);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let info = env.rabbit.queue_info(&work_queue).await;
        let acked = info["message_stats"]["ack"].as_u64().unwrap_or(0);
        if acked >= 4 && info["messages"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the duplicates were not consumed: {info}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = api.events(&id).await;
    assert_eq!(after, before, "duplicates changed nothing");
    let (_, run) = api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["attempt"], 1);
    let dead = env
        .rabbit
        .drain(&env.amqp_url, &format!("{}.dead", env.prefix))
        .await;
    assert!(dead.is_empty(), "duplicates are dropped, not dead-lettered");
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_fault_on_a_worker_without_crash_faults_fails_the_run_not_the_worker() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let poison = api
        .submit(&project, json!({"step_delay_ms": 0, "fail": "crash"}))
        .await;
    let run = api
        .wait_for(&poison, &["FAILED", "COMPLETED"], Duration::from_secs(15))
        .await;
    assert_eq!(run["attempt"], 1, "a refused crash is not retried");
    let error = run["error"].as_str().unwrap_or_default();
    assert!(error.contains("SIMULATED_CRASH_FAULTS"), "{error}");
    // The worker lives on and takes the next run.
    let next = api.submit(&project, json!({"step_delay_ms": 0})).await;
    let run = api
        .wait_for(&next, &["COMPLETED", "FAILED"], Duration::from_secs(15))
        .await;
    assert_eq!(run["status"], "COMPLETED");
    worker.stop().await;
    api.stop().await;
}

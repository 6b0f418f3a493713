//! A worker killed with SIGKILL mid-run: the run is recovered by another worker.

use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle, binary};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_whose_worker_is_killed_is_finished_by_another_worker_as_the_next_attempt() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let mut doomed = Command::new(binary("agent-runner-worker"))
        .env("DATABASE_URL", &env.database_url)
        .env("AMQP_URL", &env.amqp_url)
        .env("QUEUE_PREFIX", &env.prefix)
        .env("WORKER_ID", "doomed")
        .env("WORKER_METRICS_ADDR", "127.0.0.1:0")
        .env("RETRY_BASE_MS", "200")
        .env("RETRY_TIERS", "6")
        .env("LEASE_S", "3")
        .env("HEARTBEAT_S", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("worker process");
    let project = api.project().await;
    let id = api.submit(&project, json!({"step_delay_ms": 1000})).await;
    let run = api
        .wait_for(&id, &["RUNNING"], Duration::from_secs(20))
        .await;
    assert_eq!(run["worker_id"], "doomed");

    doomed.kill().expect("SIGKILL");
    let _reaped = doomed.wait();
    let rescuer = WorkerHandle::spawn(&env, &[]).await;
    let run = api
        .wait_for(&id, &["COMPLETED", "FAILED"], Duration::from_secs(30))
        .await;
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["attempt"], 2, "the rescue is a new attempt");
    assert_eq!(run["worker_id"], rescuer.id.as_str());

    let events = api.events(&id).await;
    let completed = events
        .iter()
        .filter(|e| e["kind"] == "RUN_COMPLETED")
        .count();
    assert_eq!(completed, 1);
    assert!(
        events
            .iter()
            .all(|e| e["kind"] != "RUN_COMPLETED" || e["attempt"] == 2)
    );
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "seq stays dense"
    );
    rescuer.stop().await;
    api.stop().await;
}

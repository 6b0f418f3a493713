//! Transient failures are retried with growing backoff through the delay tiers.

use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::{Value, json};
use std::time::Duration;

/// An event's `created_at`, in seconds since the epoch.
fn time_of(event: &Value) -> f64 {
    let at = event["created_at"].as_str().expect("created_at");
    let at = chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339 timestamp");
    at.timestamp_micros() as f64 / 1e6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transient_failure_is_retried_with_growing_delays_then_completes() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let id = api
        .submit_body(
            json!({"project_id": project, "goal": "flaky", "max_attempts": 4,
        "params": {"step_delay_ms": 0, "fail_attempts": 2}}),
        )
        .await;

    let run = api
        .wait_for(&id, &["COMPLETED", "FAILED"], Duration::from_secs(30))
        .await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["attempt"], 3);

    let events = api.events(&id).await;
    let retrying: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "RUN_RETRYING")
        .collect();
    assert_eq!(retrying.len(), 2, "one RUN_RETRYING per failed attempt");
    assert_eq!(retrying[0]["attempt"], 1);
    assert_eq!(retrying[1]["attempt"], 2);
    let delays: Vec<i64> = retrying
        .iter()
        .map(|e| e["payload"]["delay_ms"].as_i64().expect("delay_ms"))
        .collect();
    assert!(delays[1] > delays[0], "delays grow: {delays:?}");
    assert!(delays[0] >= 200, "{delays:?}");

    // Each retry really waited (about) its tier before the next RUN_STARTED.
    for (i, retry) in retrying.iter().enumerate() {
        let seq = retry["seq"].as_i64().expect("seq");
        let next_start = events
            .iter()
            .find(|e| e["seq"].as_i64() > Some(seq) && e["kind"] == "RUN_STARTED")
            .expect("a later attempt started");
        let waited_ms = (time_of(next_start) - time_of(retry)) * 1000.0;
        assert!(
            waited_ms >= delays[i] as f64 * 0.9,
            "retry {i} waited {waited_ms} ms, tier {}",
            delays[i]
        );
    }
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "seq is dense"
    );
    assert_eq!(events.last().expect("events")["kind"], "RUN_COMPLETED");
    worker.stop().await;
    api.stop().await;
}

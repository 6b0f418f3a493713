//! A RUNNING run that emits nothing for `STALL_AFTER_S` gets a RUN_STALLED
//! event once per silence and shows `stalled_since`, the metric counts it,
//! and nothing else changes: the run goes on and completes.

use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_silent_running_run_is_marked_stalled_but_not_failed() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(
        &env,
        &[("STALL_AFTER_S", "1"), ("REAPER_INTERVAL_MS", "200")],
    )
    .await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    // Each step of the simulated agent is a 2.5 s silence.
    let run = api.submit(&project, json!({"step_delay_ms": 2500})).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let shown = loop {
        let (_, shown) = api.get(&format!("/v1/runs/{run}")).await;
        if shown.get("stalled_since").is_some() {
            break shown;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never stalled: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(shown["status"], "RUNNING", "{shown}");

    let done = api
        .wait_for(&run, &["COMPLETED"], Duration::from_secs(30))
        .await;
    assert!(done.get("stalled_since").is_none(), "{done}");
    let events = api.events(&run).await;
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "dense");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["kind"].as_str().expect("kind"))
        .collect();
    let stalls = kinds.iter().filter(|k| **k == "RUN_STALLED").count();
    assert!(stalls >= 2, "one per silence: {kinds:?}");
    for pair in kinds.windows(2) {
        assert!(
            pair != ["RUN_STALLED", "RUN_STALLED"],
            "marked twice: {kinds:?}"
        );
    }
    assert_eq!(kinds.last(), Some(&"RUN_COMPLETED"));
    let stalled = events
        .iter()
        .find(|e| e["kind"] == "RUN_STALLED")
        .expect("a stall");
    assert!(
        stalled["payload"]["silent_s"].as_f64() >= Some(1.0),
        "{stalled}"
    );

    let metrics = api
        .http
        .get(format!("{}/metrics", api.base_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let line = metrics
        .lines()
        .find(|l| l.starts_with("agent_runner_runs_stalled_total "))
        .expect("the stalled counter");
    assert_eq!(line, format!("agent_runner_runs_stalled_total {stalls}"));
    worker.stop().await;
    api.stop().await;
}

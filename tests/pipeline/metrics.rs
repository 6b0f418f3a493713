//! The worker's Prometheus metrics move when runs run.

use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::json;
use std::time::Duration;

fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .map(|v| v.trim().parse::<f64>().unwrap_or(f64::NAN))
        })
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_metrics_count_started_completed_and_retried_attempts() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let scrape = || async {
        http.get(format!("{}/metrics", worker.probe_url))
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text")
    };
    let before = scrape().await;
    assert_eq!(sample(&before, "agent_runner_runs_in_flight"), 0.0);

    let project = api.project().await;
    let ok = api.submit(&project, json!({"step_delay_ms": 0})).await;
    let flaky = api
        .submit(&project, json!({"step_delay_ms": 0, "fail_attempts": 1}))
        .await;
    api.wait_for(&ok, &["COMPLETED"], Duration::from_secs(20))
        .await;
    api.wait_for(&flaky, &["COMPLETED"], Duration::from_secs(20))
        .await;

    let after = scrape().await;
    assert_eq!(
        sample(
            &after,
            "agent_runner_attempts_started_total{agent=\"simulated\"}"
        ),
        3.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "agent_runner_attempts_finished_total{agent=\"simulated\",status=\"COMPLETED\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(
            &after,
            "agent_runner_attempts_finished_total{agent=\"simulated\",status=\"RETRYING\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "agent_runner_attempt_duration_seconds_count{agent=\"simulated\"}"
        ),
        3.0
    );
    assert_eq!(
        sample(
            &after,
            "agent_runner_pickup_latency_seconds_count{agent=\"simulated\"}"
        ),
        2.0
    );
    worker.stop().await;
    api.stop().await;
}

//! The api's Prometheus metrics move when runs are submitted, cancelled,
//! retried and executed by real workers.

use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::json;
use std::time::Duration;

/// The value of one series, or `None` when the scrape does not have it.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)
            .filter(|rest| rest.starts_with(' '))
            .and_then(|rest| rest.trim().parse::<f64>().ok())
    })
}

async fn scrape(api: &ApiHandle) -> String {
    let response = api
        .http
        .get(format!("{}/metrics", api.base_url))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_metrics_count_submissions_cancels_retries_and_requests_by_route_template() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[("DB_POOL_SIZE", "7")]).await;
    let before = scrape(&api).await;
    assert_eq!(
        sample(
            &before,
            "agent_runner_runs_submitted_total{agent=\"simulated\"}"
        ),
        None,
        "{before}"
    );
    assert_eq!(sample(&before, "agent_runner_broker_connected"), Some(1.0));
    assert_eq!(sample(&before, "agent_runner_db_pool_max_size"), Some(7.0));
    assert_eq!(sample(&before, "agent_runner_outbox_backlog"), Some(0.0));

    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let ok = api.submit(&project, json!({"step_delay_ms": 0})).await;
    let flaky = api
        .submit(&project, json!({"step_delay_ms": 0, "fail_attempts": 1}))
        .await;
    let doomed = api
        .submit(&project, json!({"step_delay_ms": 0, "fail": "fatal"}))
        .await;
    let slow = api.submit(&project, json!({"step_delay_ms": 10_000})).await;
    for run in [&ok, &flaky] {
        api.wait_for(run, &["COMPLETED"], Duration::from_secs(20))
            .await;
    }
    api.wait_for(&doomed, &["FAILED"], Duration::from_secs(20))
        .await;
    api.wait_for(&slow, &["RUNNING"], Duration::from_secs(20))
        .await;
    let (status, _) = api
        .post(&format!("/v1/runs/{slow}/cancel"), json!({}))
        .await;
    assert_eq!(status, 202, "a RUNNING run's cancel is requested");
    let (status, _) = api
        .post(&format!("/v1/runs/{doomed}/retry"), json!({}))
        .await;
    assert_eq!(status, 202);
    api.wait_for(&slow, &["CANCELLED"], Duration::from_secs(20))
        .await;
    api.wait_for(&doomed, &["FAILED"], Duration::from_secs(20))
        .await;

    let after = scrape(&api).await;
    let value = |series: &str| {
        sample(&after, series).unwrap_or_else(|| panic!("{series} missing:\n{after}"))
    };
    assert_eq!(
        value("agent_runner_runs_submitted_total{agent=\"simulated\"}"),
        4.0
    );
    assert_eq!(
        value("agent_runner_runs_cancelled_total{agent=\"simulated\",outcome=\"requested\"}"),
        1.0
    );
    assert_eq!(
        value("agent_runner_runs_retried_total{agent=\"simulated\"}"),
        1.0
    );
    assert_eq!(
        value(
            "agent_runner_http_requests_total{method=\"POST\",route=\"/v1/runs\",status=\"201\"}"
        ),
        4.0
    );
    assert_eq!(
        value(
            "agent_runner_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/runs\"}"
        ),
        4.0
    );
    assert_eq!(
        value(
            "agent_runner_http_requests_total{method=\"POST\",route=\"/v1/runs/{id}/cancel\",status=\"202\"}"
        ),
        1.0
    );
    assert!(
        value(
            "agent_runner_http_requests_total{method=\"GET\",route=\"/v1/runs/{id}\",status=\"200\"}"
        ) >= 4.0,
        "wait_for polls each run"
    );
    // Route labels are templates: no run id ever becomes a label value.
    for run in [&ok, &flaky, &doomed, &slow] {
        assert!(!after.contains(run.as_str()), "{run} leaked into a label");
    }
    assert_eq!(
        value("agent_runner_outbox_backlog"),
        0.0,
        "everything was published"
    );
    assert!(value("agent_runner_db_pool_size") >= 1.0);
    assert!(value("agent_runner_db_pool_available") <= value("agent_runner_db_pool_size"));
    assert_eq!(value("agent_runner_db_pool_waiting"), 0.0);

    // A retry hand-off whose safety-net publish is not due yet stays in
    // the outbox: the gauge reads it from the table at scrape time.
    env.sql(
        "INSERT INTO outbox (run_id, attempt, not_before)
         VALUES ($1::text::uuid, 9, clock_timestamp() + interval '1 hour')",
        &[&ok],
    )
    .await;
    let pending = scrape(&api).await;
    assert_eq!(sample(&pending, "agent_runner_outbox_backlog"), Some(1.0));

    worker.stop().await;
    api.stop().await;
}

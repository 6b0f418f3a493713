//! What the console reads beyond the plain api: the runs listing filtered
//! by agent and by text in the goal, and `/v1/stats` (runs by status,
//! finished runs per minute with their latency, dead letters), each within
//! the token's projects.

use agent_runner_store::access::Role;
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::{Value, json};
use std::time::Duration;

fn ids(page: &Value) -> Vec<String> {
    page["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn runs_are_filtered_by_agent_and_by_text_in_the_goal() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let flaky = api
        .submit_body(json!({"project_id": project, "goal": "Fix the FLAKY test"}))
        .await;
    let docs = api
        .submit_body(json!({"project_id": project, "goal": "write the docs (100% of them)"}))
        .await;
    let llm = api
        .submit_body(json!({"project_id": project, "goal": "fix the flaky build", "agent": "llm"}))
        .await;

    let (status, page) = api.get("/v1/runs?q=flaky").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        ids(&page),
        [llm.clone(), flaky.clone()],
        "newest first, any case"
    );
    let (_, page) = api.get("/v1/runs?q=flaky&agent=simulated").await;
    assert_eq!(ids(&page), [flaky.as_str()]);
    let (_, page) = api.get("/v1/runs?agent=llm").await;
    assert_eq!(ids(&page), [llm.as_str()]);
    let (_, page) = api.get("/v1/runs?q=100%25").await;
    assert_eq!(ids(&page), [docs.as_str()], "% is text, not a pattern");
    let (_, page) = api.get("/v1/runs?q=").await;
    assert_eq!(ids(&page).len(), 3, "an empty filter is none");
    let (status, body) = api.get(&format!("/v1/runs?q={}", "x".repeat(201))).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api.get("/v1/runs?q=a%00b").await;
    assert_eq!(status, 400, "{body}");
    api.stop().await;
}

#[tokio::test]
async fn stats_count_runs_by_status_and_finished_runs_per_minute_within_the_scope() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let mine = api.project().await;
    let other = api.project().await;
    let mut done = Vec::new();
    for _ in 0..3 {
        done.push(api.submit(&mine, json!({"step_delay_ms": 1})).await);
    }
    for run in &done {
        api.wait_for(run, &["COMPLETED"], Duration::from_secs(30))
            .await;
    }
    worker.stop().await;
    let queued = api.submit(&other, json!({})).await;
    let failed = api.submit(&mine, json!({})).await;
    env.sql(
        "UPDATE runs SET status = 'FAILED', finished_at = clock_timestamp() WHERE id = $1",
        &[&failed.parse::<uuid::Uuid>().expect("uuid")],
    )
    .await;

    let (status, stats) = api.get("/v1/stats").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["window_s"], 3600);
    assert_eq!(stats["by_status"]["COMPLETED"], 3);
    assert_eq!(stats["by_status"]["QUEUED"], 1);
    assert_eq!(stats["by_status"]["FAILED"], 1);
    assert_eq!(stats["by_status"]["RUNNING"], 0, "every status is present");
    let buckets = stats["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 60);
    let sum = |key: &str| {
        buckets
            .iter()
            .map(|b| b[key].as_i64().expect("count"))
            .sum::<i64>()
    };
    assert_eq!(sum("finished"), 4);
    assert_eq!(sum("completed"), 3);
    assert_eq!(sum("failed"), 1);
    let latest = buckets
        .iter()
        .rev()
        .find(|b| b["finished"].as_i64() > Some(0))
        .expect("a bucket with finished runs");
    assert!(
        latest["p50_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{latest}"
    );
    assert!(buckets[0]["p50_ms"].is_null() || buckets[0]["finished"] != 0);
    assert_eq!(stats["dead_letters"], 0);

    let scoped = env.token_with(Role::Viewer, &[&other]).await;
    let (_, theirs) = api
        .request_as(&scoped, reqwest::Method::GET, "/v1/stats", None)
        .await;
    assert_eq!(theirs["by_status"]["QUEUED"], 1);
    assert_eq!(theirs["by_status"]["COMPLETED"], 0, "{theirs}");
    let _ = queued;
    api.stop().await;
}

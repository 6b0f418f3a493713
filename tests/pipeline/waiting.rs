//! `GET /v1/runs/{id}` says why a run that is not running waits: behind
//! how many older waiting runs, that no worker is live, until when a
//! retry's backoff lasts, or that it awaits a reviewer; and nothing once
//! it runs or has finished.

use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// `agent_runner_runs_waiting` by reason, from `/metrics`.
async fn waiting_gauges(api: &ApiHandle) -> Vec<(String, i64)> {
    let text = api
        .http
        .get(format!("{}/metrics", api.base_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let mut gauges: Vec<(String, i64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("agent_runner_runs_waiting{reason=\""))
        .filter_map(|l| {
            let (reason, value) = l.split_once("\"} ")?;
            Some((reason.to_owned(), value.parse().ok()?))
        })
        .collect();
    gauges.sort();
    gauges
}

fn gauges(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    let mut all: Vec<(String, i64)> = [
        "awaiting_approval",
        "budget",
        "fair_share",
        "no_worker",
        "project_limit",
        "queued",
        "rate_limit",
        "retry_backoff",
    ]
    .iter()
    .map(|r| {
        let n = pairs.iter().find(|(k, _)| k == r).map_or(0, |(_, n)| *n);
        ((*r).to_owned(), n)
    })
    .collect();
    all.sort();
    all
}

#[tokio::test]
async fn a_waiting_run_says_why_and_a_finished_one_does_not() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let first = api.submit(&project, json!({})).await;
    let second = api.submit(&project, json!({})).await;

    let (_, run) = api.get(&format!("/v1/runs/{second}")).await;
    assert_eq!(run["status"], "QUEUED");
    assert_eq!(run["waiting"]["reason"], "no_worker", "{run}");
    assert_eq!(run["waiting"]["position"], 1);
    assert_eq!(
        run["waiting"]["detail"],
        "no live worker is connected to take it; 1 run ahead of it"
    );
    assert_eq!(waiting_gauges(&api).await, gauges(&[("no_worker", 2)]));

    // A live worker that has not taken them yet: they are queued.
    env.sql(
        "INSERT INTO workers (id, hostname, concurrency) VALUES ('w-busy', 'h', 1)",
        &[],
    )
    .await;
    let (_, run) = api.get(&format!("/v1/runs/{second}")).await;
    assert_eq!(run["waiting"]["reason"], "queued", "{run}");
    assert_eq!(run["waiting"]["detail"], "queued behind 1 run");
    let (_, run) = api.get(&format!("/v1/runs/{first}")).await;
    assert_eq!(run["waiting"]["position"], 0);
    assert_eq!(waiting_gauges(&api).await, gauges(&[("queued", 2)]));

    // A retry in its backoff, then a run awaiting a reviewer.
    let id: Uuid = first.parse().expect("uuid");
    env.sql(
        "WITH r AS (UPDATE runs SET status = 'RETRYING', attempt = 1, last_seq = last_seq + 1
                    WHERE id = $1 RETURNING id, last_seq)
         INSERT INTO events (run_id, seq, attempt, kind, payload)
         SELECT id, last_seq, 1, 'RUN_RETRYING', '{\"delay_ms\": 60000, \"error\": \"flaky\"}'
         FROM r",
        &[&id],
    )
    .await;
    let (_, run) = api.get(&format!("/v1/runs/{first}")).await;
    assert_eq!(run["waiting"]["reason"], "retry_backoff", "{run}");
    let until =
        chrono::DateTime::parse_from_rfc3339(run["waiting"]["until"].as_str().expect("until"))
            .expect("RFC 3339");
    let left = until.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::seconds(50) && left <= chrono::Duration::seconds(60),
        "{left}"
    );
    assert_eq!(
        waiting_gauges(&api).await,
        gauges(&[("queued", 1), ("retry_backoff", 1)])
    );
    env.sql(
        "UPDATE runs SET status = 'AWAITING_APPROVAL' WHERE id = $1",
        &[&id],
    )
    .await;
    let (_, run) = api.get(&format!("/v1/runs/{first}")).await;
    assert_eq!(run["waiting"]["reason"], "awaiting_approval", "{run}");
    assert_eq!(
        waiting_gauges(&api).await,
        gauges(&[("queued", 1), ("awaiting_approval", 1)])
    );
    api.stop().await;
}

#[tokio::test]
async fn a_run_that_ran_has_no_waiting_reason() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let run = api.submit(&project, json!({"step_delay_ms": 1})).await;
    let done = api
        .wait_for(&run, &["COMPLETED"], Duration::from_secs(30))
        .await;
    assert!(done.get("waiting").is_none(), "{done}");
    let (_, shown) = api.get(&format!("/v1/runs/{run}")).await;
    assert!(shown.get("waiting").is_none(), "{shown}");
    worker.stop().await;
    api.stop().await;
}

//! Submitting runs and reading them back.

use agent_runner_store::access::Role;
use agent_runner_store::tokens;
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::json;
use std::time::Duration;

const LIFECYCLE: [&str; 6] = [
    "RUN_CREATED",
    "RUN_STARTED",
    "AGENT_THINKING",
    "PLAN_GENERATED",
    "EXECUTING",
    "RUN_COMPLETED",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_submitted_run_completes_with_the_six_lifecycle_events_in_order() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;

    let (status, created) = api
        .post(
            "/v1/runs",
            json!({"project_id": project, "goal": "ship it", "params": {"step_delay_ms": 0}}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(created["status"], "QUEUED");
    assert_eq!(created["agent"], "simulated");
    let id = created["id"].as_str().expect("id");

    let run = api
        .wait_for(id, &["COMPLETED", "FAILED"], Duration::from_secs(20))
        .await;
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["attempt"], 1);
    assert_eq!(run["worker_id"], worker.id.as_str());
    assert!(run["started_at"].is_string() && run["finished_at"].is_string());

    let events = api.events(id).await;
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(api.kinds(id).await, LIFECYCLE);

    let (status, tail) = api.get(&format!("/v1/runs/{id}/events?after=4")).await;
    assert_eq!(status, 200);
    let tail_kinds: Vec<_> = tail["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(tail_kinds, vec![json!("EXECUTING"), json!("RUN_COMPLETED")]);
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_idempotency_key_returns_the_same_run_and_a_different_body_conflicts() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let body = json!({"project_id": project, "goal": "once", "params": {"step_delay_ms": 0}});
    let send = |body: serde_json::Value| {
        api.http
            .post(format!("{}/v1/runs", api.base_url))
            .bearer_auth(&api.token)
            .header("Idempotency-Key", "key-1")
            .json(&body)
            .send()
    };
    let first = send(body.clone()).await.expect("first");
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.expect("json");
    let second = send(body.clone()).await.expect("second");
    assert_eq!(second.status(), 201);
    assert_eq!(
        second
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let second: serde_json::Value = second.json().await.expect("json");
    assert_eq!(first["id"], second["id"]);

    let (_, listed) = api.get("/v1/runs").await;
    assert_eq!(
        listed["runs"].as_array().expect("runs").len(),
        1,
        "only one run was created"
    );

    for (changed, named) in [
        (
            json!({"project_id": project, "goal": "something else", "params": {"step_delay_ms": 0}}),
            "goal",
        ),
        (
            json!({"project_id": project, "goal": "once", "params": {"step_delay_ms": 5}}),
            "params",
        ),
        (
            json!({"project_id": project, "goal": "once", "params": {"step_delay_ms": 0}, "max_attempts": 1}),
            "max_attempts",
        ),
    ] {
        let other = send(changed.clone()).await.expect("reuse");
        assert_eq!(other.status(), 409, "{changed}");
        let answer: serde_json::Value = other.json().await.expect("json");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("different {named}")),
            "`{message}` should name {named}"
        );
    }

    // Keys are each token's own: another token's same key is a new run.
    let (other_token, _) = tokens::create(&env.pool, "another-client", Role::Runner, None)
        .await
        .expect("token");
    let theirs = api
        .http
        .post(format!("{}/v1/runs", api.base_url))
        .bearer_auth(&other_token)
        .header("Idempotency-Key", "key-1")
        .json(&body)
        .send()
        .await
        .expect("other token");
    assert_eq!(theirs.status(), 201);
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    let theirs: serde_json::Value = theirs.json().await.expect("json");
    assert_ne!(
        theirs["id"], first["id"],
        "another token's key makes its own run"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_are_listed_newest_first_with_filters_and_keyset_pages() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let other = api.project().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(api.submit(&project, json!({"step_delay_ms": 0})).await);
    }
    api.submit(&other, json!({})).await;

    let (status, page1) = api
        .get(&format!("/v1/runs?project_id={project}&limit=2"))
        .await;
    assert_eq!(status, 200);
    let page1_ids: Vec<_> = page1["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(page1_ids, vec![ids[4].clone(), ids[3].clone()]);
    let cursor = page1["next_cursor"].as_str().expect("cursor");
    let (_, page2) = api
        .get(&format!(
            "/v1/runs?project_id={project}&limit=2&cursor={cursor}"
        ))
        .await;
    let page2_ids: Vec<_> = page2["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(page2_ids, vec![ids[2].clone(), ids[1].clone()]);

    let (_, queued) = api.get("/v1/runs?status=QUEUED&limit=100").await;
    assert_eq!(queued["runs"].as_array().expect("runs").len(), 6);
    let (_, completed) = api.get("/v1/runs?status=COMPLETED").await;
    assert_eq!(completed["runs"].as_array().expect("runs").len(), 0);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_both_take_runs_and_are_listed_as_live() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let a = WorkerHandle::spawn(&env, &[("WORKER_CONCURRENCY", "1")]).await;
    let b = WorkerHandle::spawn(&env, &[("WORKER_CONCURRENCY", "1")]).await;
    let project = api.project().await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(api.submit(&project, json!({"step_delay_ms": 150})).await);
    }
    let mut seen = std::collections::HashSet::new();
    for id in &ids {
        let run = api
            .wait_for(id, &["COMPLETED"], Duration::from_secs(30))
            .await;
        seen.insert(run["worker_id"].as_str().expect("worker").to_owned());
    }
    assert!(
        seen.contains(&a.id) && seen.contains(&b.id),
        "runs went to {seen:?}"
    );

    let (status, workers) = api.get("/v1/workers").await;
    assert_eq!(status, 200);
    let listed: Vec<_> = workers["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(
        listed.contains(&a.id) && listed.contains(&b.id),
        "{listed:?}"
    );
    a.stop().await;
    b.stop().await;
    let (_, workers) = api.get("/v1/workers").await;
    assert_eq!(
        workers["workers"].as_array().expect("workers").len(),
        0,
        "stopped workers are not live"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_request_path_marks_what_it_published_so_the_relay_publishes_nothing_twice() {
    let env = TestEnv::new().await;
    // The relay does not poll during the test: only the request path can
    // mark rows sent.
    let api = ApiHandle::spawn(&env, &[("RELAY_INTERVAL_MS", "60000")]).await;
    let project = api.project().await;
    let submissions = (0..20).map(|_| api.submit(&project, json!({"step_delay_ms": 0})));
    let ids = futures_util::future::join_all(submissions).await;
    assert_eq!(ids.len(), 20);

    let mut unsent = i64::MAX;
    for _ in 0..100 {
        unsent = env
            .sql("SELECT count(*) FROM outbox WHERE sent_at IS NULL", &[])
            .await[0]
            .get(0);
        if unsent == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(unsent, 0, "every published row is marked sent");
    let queue = format!("{}.work", env.prefix);
    assert_eq!(
        env.rabbit.ready_count(&env.amqp_url, &queue).await,
        20,
        "one message per run"
    );
    api.stop().await;
}

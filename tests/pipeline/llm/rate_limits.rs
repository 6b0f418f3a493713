//! The model's rate limits are shared by every worker: two workers calling
//! one scripted model, their calls spaced by `LLM_RATE_LIMIT_RPM` together,
//! and a 429 with `Retry-After` to one worker's call holding back the
//! other's. Times are read from the requests the fake model received.

use super::{ENDED, add_project};
use agent_runner_test_fixtures::fake_llm::{FakeLlm, Recorded, Scripted, calls, finish};
use agent_runner_test_fixtures::git_repo::origin_repo;
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::{Value, json};
use std::time::Duration;
use tempfile::TempDir;

/// An api, two workers of one run at a time each, both calling `llm` with
/// the worker variables `limits`, and a project.
struct TwoWorkers {
    env: TestEnv,
    api: ApiHandle,
    workers: Vec<WorkerHandle>,
    llm: FakeLlm,
    project: String,
    _origin: TempDir,
    _workspaces: Vec<TempDir>,
}

impl TwoWorkers {
    async fn new(llm: FakeLlm, limits: &[(&str, &str)]) -> Self {
        let env = TestEnv::new().await;
        let api = ApiHandle::spawn(&env, &[]).await;
        let mut workers = Vec::new();
        let mut workspaces = Vec::new();
        for _ in 0..2 {
            let workspace = tempfile::tempdir().expect("tempdir");
            let root = workspace.path().to_string_lossy().into_owned();
            let mut vars = vec![
                ("LLM_BASE_URL", llm.base_url.as_str()),
                ("LLM_MODEL", "test-model"),
                ("WORKSPACE_ROOT", root.as_str()),
                ("WORKER_CONCURRENCY", "1"),
            ];
            vars.extend_from_slice(limits);
            workers.push(WorkerHandle::spawn_llm(&env, &vars).await);
            workspaces.push(workspace);
        }
        let origin = origin_repo();
        let project = add_project(&api, &origin.path().to_string_lossy(), json!({})).await;
        Self {
            env,
            api,
            workers,
            llm,
            project,
            _origin: origin,
            _workspaces: workspaces,
        }
    }

    async fn submit(&self, goal: &str) -> String {
        self.api
            .submit_body(json!({"project_id": self.project, "goal": goal, "agent": "llm"}))
            .await
    }

    async fn ended(&self, id: &str) -> Value {
        let run = self.api.wait_for(id, &ENDED, Duration::from_secs(60)).await;
        assert_eq!(run["status"], "COMPLETED", "{run}");
        run
    }

    async fn stop(self) {
        for worker in self.workers {
            worker.stop().await;
        }
        self.api.stop().await;
        drop(self.env);
    }
}

/// Whether the request is of the run whose goal is `goal`.
fn of_goal(request: &Recorded, goal: &str) -> bool {
    request.body["messages"].as_array().is_some_and(|m| {
        m.iter()
            .any(|m| m["role"] == "user" && m["content"] == format!("Goal:\n{goal}"))
    })
}

/// The payloads of the run's MODEL_WAITING events.
async fn model_waits(api: &ApiHandle, id: &str) -> Vec<Value> {
    api.events(id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "MODEL_WAITING")
        .map(|e| e["payload"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_429_with_retry_after_to_one_workers_call_holds_back_the_other_workers_calls_too() {
    let llm = FakeLlm::start(
        vec![Scripted::Status(429, Some(3))],
        Some(Scripted::ByTurn(vec![finish("f1", "Done.")])),
    )
    .await;
    let s = TwoWorkers::new(llm, &[]).await;
    let first = s.submit("First goal").await;
    // The first run's call has been refused before the second run starts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while s.llm.requests().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no model call");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused_at = s.llm.requests()[0].received_at;
    let second = s.submit("Second goal").await;

    // While it waits, the second run says why, and the gauge counts it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let waiting = loop {
        let (_, run) = s.api.get(&format!("/v1/runs/{second}")).await;
        if run["waiting"]["reason"] == "rate_limit" {
            break run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never waiting: {run}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(waiting["status"], "RUNNING", "{waiting}");
    let detail = waiting["waiting"]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("Retry-After"), "{detail}");
    assert!(waiting["waiting"]["until"].is_string(), "{waiting}");
    let metrics = s
        .api
        .http
        .get(format!("{}/metrics", s.api.base_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("agent_runner_runs_waiting{reason=\"rate_limit\"} 1"),
        "{metrics}"
    );

    let first_run = s.ended(&first).await;
    let second_run = s.ended(&second).await;
    assert_ne!(
        first_run["worker_id"], second_run["worker_id"],
        "the runs were on different workers"
    );
    let requests = s.llm.requests();
    let second_call = requests
        .iter()
        .find(|r| of_goal(r, "Second goal"))
        .unwrap_or_else(|| {
            let bodies: Vec<_> = requests.iter().map(|r| &r.body["messages"]).collect();
            panic!("no call of the second run in {bodies:?}")
        });
    let held = second_call.received_at.duration_since(refused_at);
    assert!(
        held >= Duration::from_millis(2900),
        "the second worker called {held:?} after the 429 asking for 3 s"
    );
    let waits = model_waits(&s.api, &second).await;
    assert_eq!(waits[0]["limit"], "retry_after", "{waits:?}");
    assert_eq!(waits[0]["reason"], "rate_limit");
    assert!(
        waits[0]["wait_ms"].as_u64().unwrap_or(0) > 1000,
        "{waits:?}"
    );
    // The wait used no iteration, and the run answered no error.
    assert_eq!(second_run["result"]["iterations"], 1, "{second_run}");
    assert!(second_run["error"].is_null(), "{second_run}");
    let (_, run) = s.api.get(&format!("/v1/runs/{second}")).await;
    assert!(run.get("waiting").is_none(), "{run}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_from_two_workers_are_spaced_by_the_requests_per_minute_they_share() {
    let list = || calls(&[("l", "list_files", json!({}))]);
    let llm = FakeLlm::start(
        vec![],
        Some(Scripted::ByTurn(vec![
            list(),
            list(),
            finish("f", "Listed."),
        ])),
    )
    .await;
    // 120 a minute: one call every 500 ms, whichever worker sends it.
    let s = TwoWorkers::new(llm, &[("LLM_RATE_LIMIT_RPM", "120")]).await;
    let first = s.submit("List twice, first").await;
    let second = s.submit("List twice, second").await;
    let first_run = s.ended(&first).await;
    let second_run = s.ended(&second).await;
    assert_ne!(
        first_run["worker_id"], second_run["worker_id"],
        "the runs were on different workers"
    );

    let mut times: Vec<_> = s.llm.requests().iter().map(|r| r.received_at).collect();
    assert_eq!(times.len(), 6, "three calls per run");
    times.sort();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|gap| *gap >= Duration::from_millis(400)),
        "calls closer than the limit allows: {gaps:?}"
    );
    for run in [&first_run, &second_run] {
        assert_eq!(run["result"]["iterations"], 3, "no iteration lost: {run}");
    }
    let waits = [
        model_waits(&s.api, &first).await,
        model_waits(&s.api, &second).await,
    ]
    .concat();
    assert!(!waits.is_empty(), "some call waited");
    assert!(
        waits.iter().all(|w| w["limit"] == "requests_per_minute"),
        "{waits:?}"
    );
    let kinds = s.api.kinds(&second).await;
    assert!(!kinds.iter().any(|k| k == "RUN_RETRYING"), "{kinds:?}");
    s.stop().await;
}

//! The `llm` agent through the api and a worker: a temporary git repository
//! as the project, the scripted OpenAI-compatible server as `LLM_BASE_URL`,
//! and the review, follow-up and exec routes.

use agent_runner_store::tokens;
use agent_runner_test_fixtures::fake_llm::{FakeLlm, Scripted, calls, finish};
use agent_runner_test_fixtures::git_repo::{git, origin_repo, ref_exists};
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;

/// An api, a worker whose `llm` agent talks to a scripted model, and a
/// project whose repository is a temporary git repository.
struct Setup {
    env: TestEnv,
    api: ApiHandle,
    worker: WorkerHandle,
    llm: FakeLlm,
    origin: TempDir,
    workspace: TempDir,
    project: String,
}

impl Setup {
    async fn new(script: Vec<Scripted>, settings: Value) -> Self {
        let llm = FakeLlm::start(script, None).await;
        let base_url = llm.base_url.clone();
        Self::with_endpoint(llm, &base_url, settings).await
    }

    async fn with_endpoint(llm: FakeLlm, base_url: &str, settings: Value) -> Self {
        let env = TestEnv::new().await;
        let api = ApiHandle::spawn(&env, &[]).await;
        let workspace = tempfile::tempdir().expect("tempdir");
        let root = workspace.path().to_string_lossy().into_owned();
        let worker = WorkerHandle::spawn_llm(
            &env,
            &[
                ("LLM_BASE_URL", base_url),
                ("LLM_MODEL", "test-model"),
                ("WORKSPACE_ROOT", &root),
            ],
        )
        .await;
        let origin = origin_repo();
        let (status, body) = api
            .post(
                "/v1/projects",
                json!({"name": format!("demo-{}", uuid::Uuid::new_v4()),
                       "repo_url": origin.path().to_string_lossy(),
                       "default_branch": "main", "settings": settings}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let project = body["id"].as_str().expect("project id").to_owned();
        Self {
            env,
            api,
            worker,
            llm,
            origin,
            workspace,
            project,
        }
    }

    async fn submit(&self, goal: &str) -> String {
        self.api
            .submit_body(json!({"project_id": self.project, "goal": goal, "agent": "llm"}))
            .await
    }

    async fn wait(&self, id: &str, statuses: &[&str]) -> Value {
        self.api
            .wait_for(id, statuses, Duration::from_secs(30))
            .await
    }

    fn mirror(&self) -> PathBuf {
        self.workspace
            .path()
            .join("mirrors")
            .join(format!("{}.git", self.project))
    }

    async fn stop(self) {
        self.worker.stop().await;
        self.api.stop().await;
        drop(self.env);
    }
}

fn fix_the_answer() -> Vec<Scripted> {
    vec![
        calls(&[(
            "c1",
            "str_replace",
            json!({"path": "src/lib.rs", "old_str": "    41", "new_str": "    42"}),
        )]),
        finish("c2", "Fixed the answer."),
    ]
}

const ENDED: [&str; 5] = [
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "AWAITING_APPROVAL",
    "REJECTED",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_llm_run_edits_a_file_completes_and_serves_its_diff_and_branch() {
    let s = Setup::new(fix_the_answer(), json!({})).await;
    let id = s.submit("Fix the answer").await;
    let run = s.wait(&id, &ENDED).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");

    let (status, diff) = s.api.get(&format!("/v1/runs/{id}/diff")).await;
    assert_eq!(status, 200, "{diff}");
    let text = diff["diff"].as_str().expect("diff");
    assert!(
        text.contains("-    41") && text.contains("+    42"),
        "{text}"
    );
    assert_eq!(diff["files_changed"], 1);
    let branch = diff["branch"].as_str().expect("branch");
    assert!(branch.starts_with(&format!("agent/{}", &id.replace('-', "")[..8])));
    assert_eq!(
        git(&s.mirror(), &["show", &format!("{branch}:src/lib.rs")]),
        "pub fn answer() -> u32 {\n    42\n}"
    );
    let kinds = s.api.kinds(&id).await;
    for kind in [
        "WORKSPACE_READY",
        "TOOL_CALLED",
        "TOOL_RESULT",
        "DIFF_READY",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds.last().map(String::as_str), Some("RUN_COMPLETED"));

    // Only a run awaiting approval can be reviewed; nothing changes.
    for action in ["approve", "reject"] {
        let (status, body) = s
            .api
            .post(&format!("/v1/runs/{id}/{action}"), json!({}))
            .await;
        assert_eq!(status, 409, "{action}: {body}");
        assert_eq!(body["error"]["code"], "conflict");
    }
    let (_, run) = s.api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "COMPLETED");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approving_merges_the_branch_into_the_default_branch_and_exec_needs_an_admin() {
    let s = Setup::new(fix_the_answer(), json!({"require_approval": true})).await;
    let id = s.submit("Fix the answer").await;
    let run = s.wait(&id, &ENDED).await;
    assert_eq!(run["status"], "AWAITING_APPROVAL", "{run}");
    assert_eq!(run["worker_id"], s.worker.id);

    let (status, out) = s
        .api
        .post(
            &format!("/v1/runs/{id}/exec"),
            json!({"cmd": "grep -c 42 src/lib.rs; echo oops >&2; exit 3"}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["exit_code"], 3);
    assert_eq!(out["stdout"], "1\n");
    assert_eq!(out["stderr"], "oops\n");
    assert_eq!(out["timed_out"], false);

    let (reader, _) = tokens::create(&s.env.pool, "reader", false)
        .await
        .expect("token");
    let (status, body) = s
        .api
        .request_as(
            &reader,
            reqwest::Method::POST,
            &format!("/v1/runs/{id}/exec"),
            Some(json!({"cmd": "id"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = s
        .api
        .post(&format!("/v1/runs/{id}/exec"), json!({"cmd": "  "}))
        .await;
    assert_eq!(status, 422);

    let (status, run) = s
        .api
        .post(&format!("/v1/runs/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["result"]["review"]["decision"], "approved");
    assert_eq!(run["result"]["review"]["merged_into"], "main");
    let merged = run["result"]["review"]["merged_commit"]
        .as_str()
        .expect("merge commit");
    assert_eq!(git(s.origin.path(), &["rev-parse", "main"]), merged);
    assert_eq!(
        git(s.origin.path(), &["show", "main:src/lib.rs"]),
        "pub fn answer() -> u32 {\n    42\n}"
    );
    let kinds = s.api.kinds(&id).await;
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["AWAITING_APPROVAL".to_owned(), "RUN_COMPLETED".to_owned()]
    );

    let (status, body) = s
        .api
        .post(&format!("/v1/runs/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, 409, "approving twice: {body}");
    assert_eq!(git(s.origin.path(), &["rev-parse", "main"]), merged);
    assert_eq!(s.api.kinds(&id).await.len(), kinds.len());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejecting_deletes_the_branch_and_a_rejected_run_takes_no_messages() {
    let s = Setup::new(fix_the_answer(), json!({"require_approval": true})).await;
    let id = s.submit("Fix the answer").await;
    let run = s.wait(&id, &ENDED).await;
    assert_eq!(run["status"], "AWAITING_APPROVAL", "{run}");
    let branch = run["result"]["branch"].as_str().expect("branch").to_owned();
    assert!(ref_exists(&s.mirror(), &format!("refs/heads/{branch}")));

    let (status, run) = s
        .api
        .post(&format!("/v1/runs/{id}/reject"), json!({}))
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "REJECTED");
    assert!(!ref_exists(&s.mirror(), &format!("refs/heads/{branch}")));
    assert!(!s.workspace.path().join("runs").join(&id).exists());
    assert_eq!(
        git(s.origin.path(), &["show", "main:src/lib.rs"]),
        "pub fn answer() -> u32 {\n    41\n}"
    );
    assert_eq!(
        s.api.kinds(&id).await.last().map(String::as_str),
        Some("RUN_REJECTED")
    );
    let (status, body) = s
        .api
        .post(
            &format!("/v1/runs/{id}/messages"),
            json!({"message": "more"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follow_up_message_continues_the_run_on_its_branch_with_the_conversation() {
    let s = Setup::new(
        vec![
            calls(&[("a1", "write_file", json!({"path": "CHANGELOG.md", "content": "- first\n"}))]),
            finish("a2", "Started a changelog."),
            calls(&[(
                "b1",
                "str_replace",
                json!({"path": "CHANGELOG.md", "old_str": "- first\n", "new_str": "- first\n- second\n"}),
            )]),
            finish("b2", "Added a second entry."),
        ],
        json!({}),
    )
    .await;
    let id = s.submit("Start a changelog").await;
    let first = s.wait(&id, &ENDED).await;
    assert_eq!(first["status"], "COMPLETED", "{first}");

    let path = format!("/v1/runs/{id}/messages");
    let (status, _) = s.api.post(&path, json!({"message": " \n"})).await;
    assert_eq!(status, 422, "an empty message");
    let (status, _) = s
        .api
        .post(&path, json!({"message": "x".repeat(10 * 1024 + 1)}))
        .await;
    assert_eq!(status, 422, "an oversized message");

    let (status, run) = s
        .api
        .post(&path, json!({"message": "Add a second entry"}))
        .await;
    assert_eq!(status, 202, "{run}");
    assert_eq!(run["status"], "QUEUED");
    let (status, _) = s.api.post(&path, json!({"message": "again"})).await;
    assert_eq!(status, 409, "a queued run takes no message");

    // The run was QUEUED when the message was accepted, so the next ending
    // seen is the second attempt's.
    let second = s.wait(&id, &ENDED).await;
    assert_eq!(second["status"], "COMPLETED", "{second}");
    assert_eq!(second["attempt"], 2);
    assert_eq!(second["result"]["branch"], first["result"]["branch"]);
    assert_eq!(second["result"]["messages_handled"], 1);

    let bodies = s.llm.bodies();
    assert_eq!(bodies.len(), 4);
    let messages = bodies[2]["messages"].as_array().expect("messages");
    assert!(
        messages.iter().any(|m| m["tool_call_id"] == "a1"),
        "the previous conversation is sent again"
    );
    let last = messages.last().expect("a message");
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"], "Add a second entry");

    let branch = second["result"]["branch"].as_str().expect("branch");
    assert_eq!(
        git(&s.mirror(), &["show", &format!("{branch}:CHANGELOG.md")]),
        "- first\n- second"
    );
    let (_, diff) = s.api.get(&format!("/v1/runs/{id}/diff")).await;
    assert!(
        diff["diff"]
            .as_str()
            .is_some_and(|d| d.contains("+- first\n+- second")),
        "{diff}"
    );
    let kinds = s.api.kinds(&id).await;
    let posted = kinds
        .iter()
        .position(|k| k == "MESSAGE_POSTED")
        .expect("posted");
    assert!(
        kinds[posted..].iter().any(|k| k == "RUN_STARTED"),
        "{kinds:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_review_for_a_worker_that_is_gone_is_a_conflict_naming_it() {
    let s = Setup::new(fix_the_answer(), json!({"require_approval": true})).await;
    let id = s.submit("Fix the answer").await;
    let run = s.wait(&id, &ENDED).await;
    assert_eq!(run["status"], "AWAITING_APPROVAL", "{run}");
    let worker_id = s.worker.id.clone();
    let Setup {
        env, api, worker, ..
    } = s;
    worker.stop().await;

    let (status, body) = api.post(&format!("/v1/runs/{id}/approve"), json!({})).await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&worker_id), "{message}");
    let (_, run) = api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "AWAITING_APPROVAL", "nothing changed");
    // The failed request does not block a later review: it is tried, and
    // refused for the same reason.
    let (status, body) = api.post(&format!("/v1/runs/{id}/reject"), json!({})).await;
    assert_eq!(status, 409);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&worker_id), "{message}");
    api.stop().await;
    drop(env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_llm_run_fails_fast_with_a_clear_reason_when_no_endpoint_answers() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let llm = FakeLlm::start(vec![], None).await;
    let s = Setup::with_endpoint(llm, &format!("http://127.0.0.1:{closed}/v1"), json!({})).await;
    let started = std::time::Instant::now();
    let id = s.submit("Fix the answer").await;
    let run = s.api.wait_for(&id, &ENDED, Duration::from_secs(20)).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    let error = run["error"].as_str().unwrap_or_default();
    assert!(error.contains("unreachable"), "{error}");
    assert!(error.contains(&closed.to_string()), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(s.llm.bodies().is_empty());
    s.stop().await;
}

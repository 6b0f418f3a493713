//! The `llm` agent through the api and a worker: a temporary git repository
//! as the project, the scripted OpenAI-compatible server as `LLM_BASE_URL`.
//!
//! - `runs`: runs that edit, fail, and continue with follow-up messages.
//! - `review`: approve, reject and exec on the worker holding the worktree.
//! - `handover`: follow-ups, exec and reviews on another worker once the
//!   run's worker is gone, from the branch snapshot in Postgres.
//! - `concurrency`: a cancel during a long command, two runs at once.
//! - `rate_limits`: two workers sharing the model's rate limits and a 429.
//! - `budgets`: a project's token budgets stopping runs, and its usage.

mod budgets;
mod concurrency;
mod handover;
mod rate_limits;
mod review;
mod runs;

use agent_runner_test_fixtures::fake_llm::{FakeLlm, Scripted};
pub(crate) use agent_runner_test_fixtures::fake_llm::{changelog_in_two_steps, fix_the_answer};
use agent_runner_test_fixtures::git_repo::origin_repo;
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;

/// An api, a worker whose `llm` agent talks to a scripted model, and a
/// project whose repository is a temporary git repository.
pub(crate) struct Setup {
    pub(crate) env: TestEnv,
    pub(crate) api: ApiHandle,
    pub(crate) worker: WorkerHandle,
    pub(crate) llm: FakeLlm,
    pub(crate) origin: TempDir,
    pub(crate) workspace: TempDir,
    pub(crate) project: String,
}

impl Setup {
    pub(crate) async fn new(script: Vec<Scripted>, settings: Value) -> Self {
        let llm = FakeLlm::start(script, None).await;
        let base_url = llm.base_url.clone();
        Self::with_endpoint(llm, &base_url, settings, &[]).await
    }

    pub(crate) async fn with_endpoint(
        llm: FakeLlm,
        base_url: &str,
        settings: Value,
        api_overrides: &[(&str, &str)],
    ) -> Self {
        let env = TestEnv::new().await;
        let api = ApiHandle::spawn(&env, api_overrides).await;
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
        let project = add_project(&api, &origin.path().to_string_lossy(), settings).await;
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

    /// A project with `require_approval` and a run of [`fix_the_answer`]
    /// that ended AWAITING_APPROVAL: the setup, the run's id and the run.
    pub(crate) async fn awaiting_approval() -> (Self, String, Value) {
        Self::awaiting_approval_with(&[]).await
    }

    /// [`Setup::awaiting_approval`] with an api configured by `api_overrides`.
    pub(crate) async fn awaiting_approval_with(
        api_overrides: &[(&str, &str)],
    ) -> (Self, String, Value) {
        let llm = FakeLlm::start(fix_the_answer(), None).await;
        let base_url = llm.base_url.clone();
        let settings = json!({"require_approval": true});
        let s = Self::with_endpoint(llm, &base_url, settings, api_overrides).await;
        let id = s.submit("Fix the answer").await;
        let run = s.wait(&id, &ENDED).await;
        assert_eq!(run["status"], "AWAITING_APPROVAL", "{run}");
        (s, id, run)
    }

    /// Adds another project on `repo_url` and makes it the one runs are
    /// submitted to.
    pub(crate) async fn use_project_on(&mut self, repo_url: &str, settings: Value) {
        self.project = add_project(&self.api, repo_url, settings).await;
    }

    pub(crate) async fn submit(&self, goal: &str) -> String {
        self.api
            .submit_body(json!({"project_id": self.project, "goal": goal, "agent": "llm"}))
            .await
    }

    pub(crate) async fn wait(&self, id: &str, statuses: &[&str]) -> Value {
        self.api
            .wait_for(id, statuses, Duration::from_secs(30))
            .await
    }

    /// Polls a request handed to a worker (`poll`, as a 202 names it) until
    /// it is no longer PENDING; the request.
    pub(crate) async fn answered(&self, poll: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, request) = self.api.get(poll).await;
            assert_eq!(status, 200, "{request}");
            if request["status"] != "PENDING" {
                return request;
            }
            assert!(tokio::time::Instant::now() < deadline, "{request}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) fn mirror(&self) -> PathBuf {
        self.workspace
            .path()
            .join("mirrors")
            .join(format!("{}.git", self.project))
    }

    pub(crate) async fn stop(self) {
        self.worker.stop().await;
        self.api.stop().await;
        drop(self.env);
    }
}

/// Adds a project on `repo_url` (default branch `main`); its id.
async fn add_project(api: &ApiHandle, repo_url: &str, settings: Value) -> String {
    let (status, body) = api
        .post(
            "/v1/projects",
            json!({"name": format!("demo-{}", uuid::Uuid::new_v4()),
                   "repo_url": repo_url, "default_branch": "main", "settings": settings}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("project id").to_owned()
}

pub(crate) const ENDED: [&str; 5] = [
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "AWAITING_APPROVAL",
    "REJECTED",
];

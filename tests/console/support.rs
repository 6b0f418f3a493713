//! What the console tests share: an api (and workers) on a test environment
//! with a browser pointed at it, and an `llm` run driven by the scripted
//! model to AWAITING_APPROVAL (or, without the approval gate, to its end).

use agent_runner_store::access::Role;
use agent_runner_test_fixtures::fake_llm::{FakeLlm, Scripted, fix_the_answer};
use agent_runner_test_fixtures::git_repo::origin_repo;
use agent_runner_tests::{ApiHandle, Browser, TestEnv, WorkerHandle};
use serde_json::{Value, json};
use std::time::Duration;
use tempfile::TempDir;

/// How long a run may take to reach a state in these tests.
pub const RUN_WAIT: Duration = Duration::from_secs(30);

/// An api on its own environment, with a browser on its console.
pub struct Console {
    pub env: TestEnv,
    pub api: ApiHandle,
    pub browser: Browser,
}

impl Console {
    /// An api (no worker) and a laptop-sized browser, signed out.
    pub async fn start() -> Self {
        let env = TestEnv::new().await;
        let api = ApiHandle::spawn(&env, &[]).await;
        let browser = Browser::start(&api.base_url).await;
        Self { env, api, browser }
    }

    /// [`Console::start`], signed in with a new token of `role`.
    pub async fn signed_in(role: Role) -> Self {
        let console = Self::start().await;
        let token = console.env.token_with(role, &[]).await;
        console.browser.sign_in(&token).await;
        console
    }

    /// A worker with the simulated agent.
    pub async fn worker(&self) -> WorkerHandle {
        WorkerHandle::spawn(&self.env, &[]).await
    }

    /// A project named `name`; its id.
    pub async fn project(&self, name: &str) -> String {
        let (status, body) = self.api.post("/v1/projects", json!({"name": name})).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("project id").to_owned()
    }

    /// Submits a simulated run; its id.
    pub async fn submit(&self, project: &str, goal: &str, params: Value) -> String {
        self.api
            .submit_body(json!({"project_id": project, "goal": goal, "params": params}))
            .await
    }

    /// Waits until the run has one of `statuses` (over the api).
    pub async fn wait_run(&self, id: &str, statuses: &[&str]) -> Value {
        self.api.wait_for(id, statuses, RUN_WAIT).await
    }

    /// Waits until the run page shows `status` in its header.
    pub async fn wait_page_status(&self, status: &str) {
        self.browser
            .wait_for(&format!("#run-head .status[data-status=\"{status}\"]"))
            .await;
    }

    /// Checks the console, then stops everything.
    pub async fn finish(self) {
        self.browser.finish().await;
        self.api.stop().await;
        drop(self.env);
    }
}

/// A console whose worker runs the `llm` agent against the scripted model,
/// with a run of [`fix_the_answer`] awaiting approval.
pub struct Review {
    pub console: Console,
    pub worker: WorkerHandle,
    pub run_id: String,
    /// The scripted model, with the requests it received.
    pub llm: FakeLlm,
    /// The project's repository.
    pub origin: TempDir,
    _workspace: TempDir,
}

impl Review {
    /// Drives the run to AWAITING_APPROVAL; the browser is signed in as `role`.
    pub async fn awaiting_approval(role: Role) -> Self {
        let r = Self::run(role, "Fix the answer", fix_the_answer(), true).await;
        let (_, run) = r.console.api.get(&format!("/v1/runs/{}", r.run_id)).await;
        assert_eq!(run["status"], "AWAITING_APPROVAL", "{run}");
        r
    }

    /// A run of `goal` answered by `script`, waited for until it awaits
    /// approval or ends (the project asks for approval when `approval`); the
    /// browser is signed in as `role`.
    pub async fn run(role: Role, goal: &str, script: Vec<Scripted>, approval: bool) -> Self {
        let console = Console::signed_in(role).await;
        let llm = FakeLlm::start(script, None).await;
        let workspace = tempfile::tempdir().expect("tempdir");
        let root = workspace.path().to_string_lossy().into_owned();
        let worker = WorkerHandle::spawn_llm(
            &console.env,
            &[
                ("LLM_BASE_URL", llm.base_url.as_str()),
                ("LLM_MODEL", "test-model"),
                ("WORKSPACE_ROOT", root.as_str()),
            ],
        )
        .await;
        let origin = origin_repo();
        let (status, project) = console
            .api
            .post(
                "/v1/projects",
                json!({"name": "answers", "repo_url": origin.path().to_string_lossy(),
                       "default_branch": "main", "settings": {"require_approval": approval}}),
            )
            .await;
        assert_eq!(status, 201, "{project}");
        let run_id = console
            .api
            .submit_body(json!({"project_id": project["id"], "goal": goal, "agent": "llm"}))
            .await;
        console
            .wait_run(
                &run_id,
                &["AWAITING_APPROVAL", "COMPLETED", "FAILED", "CANCELLED"],
            )
            .await;
        Self {
            console,
            worker,
            run_id,
            llm,
            origin,
            _workspace: workspace,
        }
    }

    /// Checks the console, then stops everything.
    pub async fn finish(self) {
        self.console.browser.finish().await;
        self.worker.stop().await;
        self.console.api.stop().await;
    }
}

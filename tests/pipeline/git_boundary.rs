//! Everything a client sends that reaches git is untrusted: repository URLs
//! that git would read as options or as command-running transports, local
//! repositories where the operator did not allow them, and bad branch
//! names get 422 at the api; a row that bypassed the api is refused by the
//! harness, and nothing runs.

use agent_runner_test_fixtures::fake_llm::{FakeLlm, fix_the_answer};
use agent_runner_test_fixtures::git_repo::{hostile_urls, origin_repo};
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repository_urls_that_git_could_run_get_422_on_create_and_patch() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let marker = marker.to_string_lossy();
    for url in hostile_urls(&marker) {
        let (status, answer) = api
            .post(
                "/v1/projects",
                json!({"name": "p-hostile", "repo_url": url}),
            )
            .await;
        assert_eq!(status, 422, "{url:?} → {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("repo_url")),
            "{answer}"
        );
        let (status, answer) = api
            .request(
                Method::PATCH,
                &format!("/v1/projects/{project}"),
                Some(json!({"repo_url": url})),
            )
            .await;
        assert_eq!(status, 422, "{url:?} → {answer}");
    }
    for url in [
        "https://github.com/o/r.git",
        "ssh://git@host:2222/o/r.git",
        "git@github.com:o/r.git",
        "git://127.0.0.1:9418/r.git",
    ] {
        let (status, answer) = api
            .request(
                Method::PATCH,
                &format!("/v1/projects/{project}"),
                Some(json!({"repo_url": url})),
            )
            .await;
        assert_eq!(status, 200, "{url} → {answer}");
    }
    assert!(!dir.path().join("ran").exists(), "nothing ran");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_repositories_need_the_operator_to_allow_them() {
    let env = TestEnv::new().await;
    let strict = ApiHandle::spawn(&env, &[("AGENT_ALLOW_LOCAL_REPOS", "false")]).await;
    for url in [
        "/etc",
        "file:///etc",
        "http://10.0.0.1/r.git",
        "relative/path",
    ] {
        let (status, answer) = strict
            .post("/v1/projects", json!({"name": "p-local", "repo_url": url}))
            .await;
        assert_eq!(status, 422, "{url} → {answer}");
    }
    strict.stop().await;
    let allowing = ApiHandle::spawn(&env, &[("AGENT_ALLOW_LOCAL_REPOS", "true")]).await;
    let (status, answer) = allowing
        .post(
            "/v1/projects",
            json!({"name": "p-local", "repo_url": "/srv/repo.git"}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    allowing.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn branch_names_git_would_refuse_or_read_as_options_get_422() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let long = "b".repeat(5000);
    for branch in [
        "--orphan",
        "a..b",
        "-b",
        "x.lock",
        "a b",
        "a~1",
        "@",
        "a//b",
        long.as_str(),
    ] {
        let (status, answer) = api
            .post(
                "/v1/projects",
                json!({"name": "p-branch", "default_branch": branch}),
            )
            .await;
        assert_eq!(status, 422, "{branch} → {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("default_branch")),
            "{answer}"
        );
    }
    let (status, answer) = api
        .post(
            "/v1/projects",
            json!({"name": "p-branch", "default_branch": "release/2.1"}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    api.stop().await;
}

/// A local repository written into the database around the api is refused
/// by a worker that does not allow local repositories: the run fails
/// naming `AGENT_ALLOW_LOCAL_REPOS`, before git or the model is reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_local_repository_planted_in_the_database_is_refused_by_the_worker() {
    let env = TestEnv::new().await;
    let strict = [("AGENT_ALLOW_LOCAL_REPOS", "false")];
    let api = ApiHandle::spawn(&env, &strict).await;
    let llm = FakeLlm::start(fix_the_answer(), None).await;
    let workspace = tempfile::tempdir().expect("tempdir");
    let root = workspace.path().to_string_lossy().into_owned();
    let worker = WorkerHandle::spawn_llm(
        &env,
        &[
            ("AGENT_ALLOW_LOCAL_REPOS", "false"),
            ("LLM_BASE_URL", &llm.base_url),
            ("LLM_MODEL", "test-model"),
            ("WORKSPACE_ROOT", &root),
        ],
    )
    .await;
    let project = api.project().await;
    let origin = origin_repo();
    let planted = origin.path().to_string_lossy().into_owned();
    let id: uuid::Uuid = project.parse().expect("project id");
    env.sql(
        "UPDATE projects SET repo_url = $1 WHERE id = $2",
        &[&planted, &id],
    )
    .await;
    let run = api
        .submit_body(json!({"project_id": project, "goal": "Fix the answer", "agent": "llm"}))
        .await;
    let failed = api
        .wait_for(&run, &["FAILED", "COMPLETED"], Duration::from_secs(30))
        .await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("AGENT_ALLOW_LOCAL_REPOS"), "{failed}");
    assert!(llm.requests().is_empty(), "the model was never asked");
    assert!(
        !workspace.path().join("mirrors").exists(),
        "nothing was cloned"
    );
    worker.stop().await;
    api.stop().await;
}

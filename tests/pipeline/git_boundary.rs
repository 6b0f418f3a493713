//! Everything a client sends that reaches git is untrusted: repository URLs
//! that git would read as options or as command-running transports, local
//! repositories where the operator did not allow them, and bad branch
//! names get 422 at the api; a row that bypassed the api is refused by the
//! harness, and nothing runs.

use agent_runner_tests::{ApiHandle, TestEnv};
use reqwest::Method;
use serde_json::json;

/// URLs that would run a command, read as an option, or use a transport
/// that runs one; `{marker}` is a file the command would create.
fn hostile_urls(marker: &str) -> Vec<String> {
    vec![
        format!("--upload-pack=touch {marker}"),
        format!("--receive-pack=touch {marker}"),
        format!("-u touch {marker}"),
        format!("-uTouch{marker}"),
        format!("--config=core.sshCommand=touch {marker}"),
        format!("-c core.sshCommand=touch {marker}"),
        format!("ext::sh -c touch% {marker}"),
        "fd::3".to_owned(),
        format!("ssh://-oProxyCommand=touch%20{marker}/x"),
        format!("-oProxyCommand=touch {marker}:x"),
        "https://host/r\u{7}.git".to_owned(),
        "https://host/r.git\nx".to_owned(),
    ]
}

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

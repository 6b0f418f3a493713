//! Secrets are write-only: stored as given, answered masked.

use agent_runner_tests::{ApiHandle, TestEnv};
use reqwest::Method;
use serde_json::json;

/// The project's `repo_url` and `settings` as stored.
async fn stored(env: &TestEnv, id: &str) -> (String, serde_json::Value) {
    let id = uuid::Uuid::parse_str(id).expect("uuid");
    let row = &env
        .sql(
            "SELECT repo_url, settings FROM projects WHERE id = $1",
            &[&id],
        )
        .await[0];
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_in_a_project_are_stored_but_answered_masked_and_survive_a_round_trip() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let (status, created) = api
        .post(
            "/v1/projects",
            json!({"name": "secretive", "repo_url": "https://bot:hunter2@git.example/r.git",
                   "settings": {"github_token": "ghp_live", "team": "core", "max_tokens": 5}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let masked_url = "https://bot:***@git.example/r.git";
    let (_, shown) = api.get(&format!("/v1/projects/{id}")).await;
    let (_, listed) = api.get("/v1/projects").await;
    for project in [&created, &shown, &listed["projects"][0]] {
        assert_eq!(project["repo_url"], masked_url, "{project}");
        assert_eq!(
            project["settings"],
            json!({"github_token": "***", "team": "core", "max_tokens": 5}),
            "{project}"
        );
    }
    let (url, settings) = stored(&env, &id).await;
    assert_eq!(url, "https://bot:hunter2@git.example/r.git");
    assert_eq!(settings["github_token"], "ghp_live");

    // What a client read, sent back: the stored secrets stay.
    let (status, changed) = api
        .request(
            Method::PATCH,
            &format!("/v1/projects/{id}"),
            Some(
                json!({"repo_url": masked_url, "settings": {"github_token": "***", "team": "web"}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    let (url, settings) = stored(&env, &id).await;
    assert_eq!(url, "https://bot:hunter2@git.example/r.git");
    assert_eq!(settings["github_token"], "ghp_live");
    assert_eq!(settings["team"], "web");

    // A new secret replaces the old one.
    let (status, _) = api
        .request(
            Method::PATCH,
            &format!("/v1/projects/{id}"),
            Some(json!({"repo_url": "https://bot:s3cret@git.example/r.git",
                        "settings": {"github_token": "ghp_next"}})),
        )
        .await;
    assert_eq!(status, 200);
    let (url, settings) = stored(&env, &id).await;
    assert_eq!(url, "https://bot:s3cret@git.example/r.git");
    assert_eq!(settings["github_token"], "ghp_next");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_runs_api_key_is_stored_for_the_worker_but_answered_masked() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let (status, created) = api
        .post(
            "/v1/runs",
            json!({"project_id": project, "goal": "g", "agent": "llm",
                   "params": {"base_url": "http://127.0.0.1:9/v1", "api_key": "sk-live-1"}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let (_, shown) = api.get(&format!("/v1/runs/{id}")).await;
    let (_, listed) = api.get("/v1/runs").await;
    for run in [&created, &shown, &listed["runs"][0]] {
        assert_eq!(run["params"]["api_key"], "***", "{run}");
        assert_eq!(run["params"]["base_url"], "http://127.0.0.1:9/v1", "{run}");
    }
    let uuid = uuid::Uuid::parse_str(&id).expect("uuid");
    let row = &env
        .sql(
            "SELECT params->>'api_key' FROM runs WHERE id = $1",
            &[&uuid],
        )
        .await[0];
    assert_eq!(
        row.get::<_, String>(0),
        "sk-live-1",
        "the worker still gets it"
    );
    api.stop().await;
}

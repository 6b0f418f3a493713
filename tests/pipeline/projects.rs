//! `PATCH /v1/projects/{id}`: settings merged key by key and checked as at
//! creation; the repository and default branch replaced; nothing changes
//! when anything is refused.

use agent_runner_tests::{ApiHandle, TestEnv};
use reqwest::Method;
use serde_json::{Value, json};

async fn patch(api: &ApiHandle, path: &str, body: Value) -> (u16, Value) {
    api.request(Method::PATCH, path, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_project_changes_key_by_key_and_a_refused_change_changes_nothing() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let (status, created) = api
        .post(
            "/v1/projects",
            json!({"name": "shop", "repo_url": "/srv/shop.git",
                   "settings": {"require_approval": true, "team": "core"}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/v1/projects/{}", created["id"].as_str().expect("id"));

    let (status, changed) = patch(
        &api,
        &path,
        json!({"settings": {"push_branches": true, "team": null}, "default_branch": "trunk"}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        changed["settings"],
        json!({"require_approval": true, "push_branches": true})
    );
    assert_eq!(changed["default_branch"], "trunk");
    assert_eq!(changed["repo_url"], "/srv/shop.git", "left out: kept");
    assert_eq!(changed["name"], "shop");

    for (body, expected) in [
        (
            json!({"settings": {"git_timeout_s": 0}}),
            "settings.git_timeout_s",
        ),
        (
            json!({"settings": {"merge_into": "a b"}}),
            "merge_into `a b`",
        ),
        (json!({"settings": [1]}), "settings must be a JSON object"),
        (json!({"default_branch": " "}), "default_branch"),
        (json!({"name": "other"}), "unknown field `name`"),
    ] {
        let (status, answer) = patch(&api, &path, body.clone()).await;
        assert_eq!(status, 422, "{body} → {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(expected),
            "`{message}` should mention `{expected}`"
        );
    }
    let (_, shown) = api.get(&path).await;
    assert_eq!(shown, changed, "refused changes change nothing");

    let (status, cleared) = patch(&api, &path, json!({"repo_url": null})).await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["repo_url"], Value::Null);
    assert_eq!(cleared["settings"], changed["settings"]);

    let missing = format!("/v1/projects/{}", uuid::Uuid::new_v4());
    let (status, answer) = patch(&api, &missing, json!({"settings": {}})).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["code"], "not_found");
    api.stop().await;
}

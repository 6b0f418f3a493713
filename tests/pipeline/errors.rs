//! Bad input gets a clear JSON error and loses nothing.

use agent_runner_store::access::Role;
use agent_runner_store::tokens;
use agent_runner_tests::{ApiHandle, TestEnv};
use serde_json::{Value, json};

async fn raw(api: &ApiHandle, req: reqwest::RequestBuilder) -> (u16, Value) {
    let _ = api;
    let response = req.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_without_a_token_or_with_a_wrong_one_get_401() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let url = format!("{}/v1/runs", api.base_url);
    let (status, body) = raw(&api, api.http.get(&url)).await;
    assert_eq!(status, 401);
    assert_error(&body, "unauthorized");
    let (status, body) = raw(&api, api.http.get(&url).bearer_auth("art_not-a-real-token")).await;
    assert_eq!(status, 401);
    assert_error(&body, "unauthorized");
    let (status, _) = raw(&api, api.http.get(format!("{}/healthz", api.base_url))).await;
    assert_eq!(status, 200, "health needs no token");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_token_is_refused() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let (secret, _) = tokens::create(&env.pool, "short-lived", Role::Viewer, None)
        .await
        .expect("token");
    let url = format!("{}/v1/projects", api.base_url);
    assert_eq!(
        raw(&api, api.http.get(&url).bearer_auth(&secret)).await.0,
        200
    );
    assert!(
        tokens::revoke(&env.pool, "short-lived")
            .await
            .expect("revoke")
    );
    assert_eq!(
        raw(&api, api.http.get(&url).bearer_auth(&secret)).await.0,
        401
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_json_gets_400_and_a_wrong_shape_gets_422() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let url = format!("{}/v1/runs", api.base_url);
    let req = api
        .http
        .post(&url)
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body("{\"goal\": ");
    let (status, body) = raw(&api, req).await;
    assert_eq!(status, 400);
    assert_error(&body, "bad_request");

    let (status, body) = api.post("/v1/runs", json!({"goal": "no project"})).await;
    assert_eq!(status, 422);
    assert_error(&body, "validation_failed");

    let req = api.http.post(&url).bearer_auth(&api.token).body("goal=x");
    let (status, body) = raw(&api, req).await;
    assert_eq!(status, 415);
    assert_error(&body, "unsupported_media_type");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_submissions_get_422_naming_the_problem_and_create_nothing() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let cases = [
        (
            json!({"project_id": project, "goal": "   "}),
            "goal must not be empty",
        ),
        (
            json!({"project_id": project, "goal": "x".repeat(10 * 1024 + 1)}),
            "goal is 10241 bytes",
        ),
        (
            json!({"project_id": project, "goal": "g", "agent": "wizard"}),
            "unknown agent `wizard`",
        ),
        (
            json!({"project_id": project, "goal": "g", "params": [1]}),
            "params must be a JSON object",
        ),
        (
            json!({"project_id": project, "goal": "g", "params": {"step_delay_ms": "slow"}}),
            "invalid params",
        ),
        (
            json!({"project_id": project, "goal": "g", "agent": "llm",
                   "params": {"max_iterations": "ten"}}),
            "params: max_iterations: invalid type",
        ),
        (
            json!({"project_id": project, "goal": "g", "agent": "llm",
                   "params": {"temperature": 0.2}}),
            "params: temperature: unknown field",
        ),
        (
            json!({"project_id": project, "goal": "g", "max_attempts": 0}),
            "max_attempts",
        ),
        (
            json!({"project_id": project, "goal": "g", "timeout_s": 999_999}),
            "timeout_s must be at most",
        ),
        (
            json!({"project_id": uuid::Uuid::new_v4(), "goal": "g"}),
            "does not exist",
        ),
        (
            json!({"project_id": project, "goal": "g", "colour": "red"}),
            "unknown field `colour`",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = api.post("/v1/runs", body.clone()).await;
        assert_eq!(status, 422, "{body} → {answer}");
        assert_error(&answer, "validation_failed");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(expected),
            "`{message}` should mention `{expected}`"
        );
    }
    let (_, listed) = api.get("/v1/runs").await;
    assert_eq!(listed["runs"].as_array().expect("runs").len(), 0);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_model_endpoint_needs_an_admin_token_and_project_settings_are_checked() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let elsewhere = json!({"project_id": project, "goal": "g", "agent": "llm",
                           "params": {"base_url": "http://127.0.0.1:9/v1", "api_key": "k"}});
    // A runner may submit runs, but not to another model endpoint.
    let reader = env.token_with(Role::Runner, &[]).await;
    let (status, body) = api
        .request_as(
            &reader,
            reqwest::Method::POST,
            "/v1/runs",
            Some(elsewhere.clone()),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_error(&body, "forbidden");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("params.base_url")),
        "{body}"
    );
    let (_, listed) = api.get("/v1/runs").await;
    assert_eq!(listed["runs"].as_array().expect("runs").len(), 0);
    let (status, body) = api.post("/v1/runs", elsewhere).await;
    assert_eq!(status, 201, "an admin may: {body}");

    for (settings, expected) in [
        (json!({"push_branches": "on"}), "settings.push_branches"),
        (json!({"git_timeout_s": 0}), "settings.git_timeout_s"),
        (json!({"require_approval": "yes"}), "require_approval"),
        (json!({"merge_into": "-rf"}), "merge_into `-rf`"),
        (json!({"merge_into": 7}), "merge_into must be"),
    ] {
        let (status, body) = api
            .post(
                "/v1/projects",
                json!({"name": format!("p-{}", uuid::Uuid::new_v4()), "settings": settings}),
            )
            .await;
        assert_eq!(status, 422, "{settings}: {body}");
        assert_error(&body, "validation_failed");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(expected),
            "`{message}` should mention `{expected}`"
        );
    }
    let (status, body) = api
        .post(
            "/v1/projects",
            json!({"name": "checked", "settings": {"push_branches": true, "git_timeout_s": 60,
                   "merge_into": "release", "team": "core"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["settings"]["team"], "core", "other keys are kept");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_over_the_limit_gets_413() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let (status, body) = api
        .post(
            "/v1/runs",
            json!({"project_id": project, "goal": "x".repeat(100 * 1024)}),
        )
        .await;
    assert_eq!(status, 413);
    assert_error(&body, "payload_too_large");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_runs_and_routes_get_404_and_a_taken_project_name_gets_409() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let (status, body) = api.get(&format!("/v1/runs/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    let (status, body) = api.get("/v1/runs/not-an-id/events").await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    let (status, body) = api.get("/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");

    let (status, _) = api.post("/v1/projects", json!({"name": "twice"})).await;
    assert_eq!(status, 201);
    let (status, body) = api.post("/v1/projects", json!({"name": "twice"})).await;
    assert_eq!(status, 409);
    assert_error(&body, "conflict");
    let (status, body) = api.get("/v1/runs?status=SLEEPING").await;
    assert_eq!(status, 400);
    assert_error(&body, "bad_request");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_database_gives_503_with_a_json_error() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    // A second api whose database is unreachable: it starts, and answers 503.
    let broken = agent_runner_api::Application::build(
        agent_runner_api::ApiConfig::from_env(&agent_runner_config::Env::from_map([
            ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
            ("AMQP_URL", env.amqp_url.as_str()),
            ("QUEUE_PREFIX", env.prefix.as_str()),
            ("API_ADDR", "127.0.0.1:0"),
        ]))
        .expect("config"),
    )
    .await
    .expect("builds without a database");
    let url = format!("http://127.0.0.1:{}", broken.port());
    let stop = tokio_util::sync::CancellationToken::new();
    let signal = stop.clone();
    let serving = tokio::spawn(broken.run_until_stopped(async move { signal.cancelled().await }));
    let (status, body) = raw(
        &api,
        api.http
            .get(format!("{url}/v1/runs"))
            .bearer_auth(&api.token),
    )
    .await;
    assert_eq!(status, 503);
    assert_error(&body, "service_unavailable");
    let (status, body) = raw(&api, api.http.get(format!("{url}/readyz"))).await;
    assert_eq!(status, 503);
    assert_ne!(body["checks"]["postgres"], "ok");
    stop.cancel();
    serving.await.expect("join").expect("clean stop");
    api.stop().await;
}

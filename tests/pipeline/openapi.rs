//! `/openapi.json` documents exactly the routes the api serves: every
//! documented operation reaches a handler (not the 404/405 fallbacks), every
//! other method on a documented path is answered 405, and the routes this
//! api is known to serve are all there with their schemas and security.

use agent_runner_tests::{ApiHandle, TestEnv};
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeSet;

/// The console's sign-in: the one `/v1` route a token does not secure.
const SIGN_IN: &str = "/v1/session";

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(api: &ApiHandle) -> Value {
    let response = api
        .http
        .get(format!("{}/openapi.json", api.base_url))
        .send()
        .await
        .expect("fetch openapi.json");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON document")
}

/// The documented (method, path) pairs.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Sends `method path` (ids filled in with a fresh UUID) with the token and
/// says whether routing fell through to a fallback, and which.
async fn fallback_of(api: &ApiHandle, method: &str, path: &str) -> Option<&'static str> {
    let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let response = api
        .http
        .request(method, format!("{}{concrete}", api.base_url))
        .bearer_auth(&api.token)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match (status, body["error"]["message"].as_str()) {
        (404, Some("no such route")) => Some("404"),
        (405, _) => Some("405"),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openapi_json_documents_every_served_route_and_nothing_else() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let doc = document(&api).await;
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3."),
        "{doc}"
    );
    let documented = operations(&doc);

    let served: BTreeSet<(String, String)> = [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("POST", "/v1/projects"),
        ("GET", "/v1/projects"),
        ("GET", "/v1/projects/{id}"),
        ("GET", "/v1/projects/{id}/usage"),
        ("POST", "/v1/runs"),
        ("GET", "/v1/runs"),
        ("GET", "/v1/runs/{id}"),
        ("POST", "/v1/runs/{id}/cancel"),
        ("POST", "/v1/runs/{id}/retry"),
        ("GET", "/v1/runs/{id}/events"),
        ("GET", "/v1/runs/{id}/events/stream"),
        ("GET", "/v1/runs/{id}/diff"),
        ("GET", "/v1/workers"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");

    // Probe the live router: each documented operation reaches a handler,
    // and each other method on a documented path is refused with 405.
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in METHODS {
            let method = method.to_uppercase();
            let fallback = fallback_of(&api, &method, path).await;
            if documented.contains(&(method.clone(), path.clone())) {
                assert_eq!(
                    fallback, None,
                    "{method} {path} is documented but not served"
                );
            } else {
                assert_eq!(
                    fallback,
                    Some("405"),
                    "{method} {path} is served but not documented"
                );
            }
        }
    }
    // A path nobody registered falls through to the 404 fallback.
    assert_eq!(
        fallback_of(&api, "GET", "/v1/nothing-here").await,
        Some("404")
    );

    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openapi_json_describes_bodies_errors_and_bearer_auth() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let doc = document(&api).await;

    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer");

    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(
        error["properties"]["error"]["$ref"],
        "#/components/schemas/ErrorDetail"
    );
    let detail = &doc["components"]["schemas"]["ErrorDetail"];
    let required: BTreeSet<&str> = detail["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, BTreeSet::from(["code", "message"]));

    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let secured = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        let token_route = path.starts_with("/v1/") && path != SIGN_IN;
        assert_eq!(secured, token_route, "security of {method} {path}");
        if token_route {
            assert_eq!(
                op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path} documents its 401 body"
            );
        }
    }

    let submit = &doc["paths"]["/v1/runs"]["post"];
    assert_eq!(
        submit["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/RunSubmission"
    );
    assert_eq!(
        submit["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Run"
    );
    let submission = &doc["components"]["schemas"]["RunSubmission"]["properties"];
    for field in [
        "project_id",
        "goal",
        "agent",
        "params",
        "max_attempts",
        "timeout_s",
    ] {
        assert!(submission.get(field).is_some(), "RunSubmission.{field}");
    }
    let header_params: BTreeSet<&str> = submit["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "header")
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        header_params,
        BTreeSet::from(["Idempotency-Key", "traceparent"])
    );
    let stream = &doc["paths"]["/v1/runs/{id}/events/stream"]["get"]["responses"]["200"];
    assert!(
        stream["content"].get("text/event-stream").is_some(),
        "{stream}"
    );
    let statuses = &doc["components"]["schemas"]["RunStatus"]["enum"];
    assert!(
        statuses
            .as_array()
            .is_some_and(|s| s.iter().any(|v| v == "AWAITING_APPROVAL")),
        "{statuses}"
    );

    api.stop().await;
}

/// The statuses `op` documents.
fn statuses(op: &Value) -> BTreeSet<String> {
    op["responses"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openapi_json_lists_the_statuses_each_route_answers_and_the_limits_it_enforces() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let doc = document(&api).await;

    // What the api answers before a handler runs: the token check on every
    // /v1 route, the body extractors on every route that takes a body.
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let documented = statuses(op);
        let mut expected: BTreeSet<&str> = BTreeSet::new();
        if path.starts_with("/v1/") && path != SIGN_IN {
            expected.extend(["401", "429", "503"]);
            for status in ["429", "503"] {
                assert!(
                    op["responses"][status]["headers"]
                        .get("Retry-After")
                        .is_some(),
                    "{method} {path} {status} documents Retry-After"
                );
            }
        }
        if op.get("requestBody").is_some() {
            expected.extend(["400", "408", "413", "415", "422"]);
        }
        if path.contains('{') {
            expected.insert("404");
        }
        for status in expected {
            assert!(
                documented.contains(status),
                "{method} {path} documents {status}: {documented:?}"
            );
            assert_eq!(
                op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path} {status}"
            );
        }
    }
    // Actions above the viewer role answer 403 to a token without it.
    for (method, path) in [
        ("post", "/v1/projects"),
        ("patch", "/v1/projects/{id}"),
        ("post", "/v1/runs"),
        ("post", "/v1/runs/{id}/cancel"),
        ("post", "/v1/runs/{id}/retry"),
        ("post", "/v1/runs/{id}/messages"),
        ("post", "/v1/runs/{id}/approve"),
        ("post", "/v1/runs/{id}/reject"),
        ("post", "/v1/runs/{id}/exec"),
    ] {
        let documented = statuses(&doc["paths"][path][method]);
        assert!(
            documented.contains("403"),
            "{method} {path}: {documented:?}"
        );
    }
    // A body that may be left out is not a JSON null (which gets 422).
    let approve = &doc["paths"]["/v1/runs/{id}/approve"]["post"]["requestBody"];
    assert_ne!(approve["required"], true, "{approve}");
    assert_eq!(
        approve["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ApproveBody"
    );

    // Limits, from the constants the api checks them with.
    let schemas = &doc["components"]["schemas"];
    let field = |schema: &str, name: &str| schemas[schema]["properties"][name].clone();
    use agent_runner_domain::repo::BRANCH_NAME_MAX_BYTES;
    use agent_runner_domain::submission::{MAX_GOAL_BYTES, MAX_MAX_ATTEMPTS};
    assert_eq!(field("RunSubmission", "goal")["maxLength"], MAX_GOAL_BYTES);
    assert_eq!(
        field("RunSubmission", "max_attempts")["maximum"],
        MAX_MAX_ATTEMPTS
    );
    assert_eq!(field("RunSubmission", "timeout_s")["minimum"], 1);
    assert_eq!(field("MessageBody", "message")["maxLength"], MAX_GOAL_BYTES);
    for (schema, name) in [
        ("CreateProject", "default_branch"),
        ("UpdateProject", "default_branch"),
        ("ApproveBody", "merge_into"),
    ] {
        assert_eq!(
            field(schema, name)["maxLength"],
            BRANCH_NAME_MAX_BYTES,
            "{schema}.{name}"
        );
    }
    let limit = doc["paths"]["/v1/runs"]["get"]["parameters"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "limit"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(limit["schema"]["maximum"], 500, "{limit}");

    // The event stream documents its events, not a string.
    let stream = &doc["paths"]["/v1/runs/{id}/events/stream"]["get"]["responses"]["200"];
    assert_eq!(
        stream["content"]["text/event-stream"]["schema"]["$ref"],
        "#/components/schemas/StreamEvent"
    );
    api.stop().await;
}

//! `/openapi.json` documents exactly the routes the api serves: every
//! documented operation reaches a handler (not the 404/405 fallbacks), every
//! other method on a documented path is answered 405, and the routes this
//! api is known to serve are all there with their schemas and security.

use agent_runner_tests::{ApiHandle, TestEnv};
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeSet;

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
        assert_eq!(
            secured,
            path.starts_with("/v1/"),
            "security of {method} {path}"
        );
        if path.starts_with("/v1/") {
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

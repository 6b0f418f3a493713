//! Every `/v1` route against every role, and against a token scoped to
//! another project: the role an action needs is refused below it with 403
//! naming the role; a scoped token gets 404 for runs and projects outside its
//! scope and filtered lists. The routes come from `/openapi.json`, so a route
//! added without a row here fails the test.

use agent_runner_store::access::Role;
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// What a row sends.
enum Body {
    None,
    Json(Value),
    /// A run submission into project A.
    Submission,
    /// A project body with a fresh name (names are unique).
    NewProject,
}

/// One route: the least role it needs, what a token with that role gets on
/// the test's completed run in project A, and what a reviewer scoped to
/// project B gets (when its role suffices).
struct Row {
    method: &'static str,
    path: &'static str,
    needs: Role,
    allowed: u16,
    scoped_elsewhere: u16,
    body: Body,
}

fn row(
    method: &'static str,
    path: &'static str,
    needs: Role,
    allowed: u16,
    scoped_elsewhere: u16,
    body: Body,
) -> Row {
    Row {
        method,
        path,
        needs,
        allowed,
        scoped_elsewhere,
        body,
    }
}

/// The table. Actions on the completed run end in 409 (not cancellable, not
/// retryable, no diff, not awaiting approval, not an `llm` run) once the
/// role allows them: authorization is decided before the run's state.
/// The console's sign-in: the session is the credential there, not a token.
const SIGN_IN: &str = "/v1/session";

fn table() -> Vec<Row> {
    use Body::{Json, NewProject, None, Submission};
    use Role::{Admin, Reviewer, Runner, Viewer};
    vec![
        row("GET", "/v1/projects", Viewer, 200, 200, None),
        row("POST", "/v1/projects", Admin, 201, 403, NewProject),
        row("GET", "/v1/projects/{project}", Viewer, 200, 404, None),
        row(
            "PATCH",
            "/v1/projects/{project}",
            Admin,
            200,
            403,
            Json(json!({})),
        ),
        row(
            "GET",
            "/v1/projects/{project}/usage",
            Viewer,
            200,
            404,
            None,
        ),
        row("GET", "/v1/runs", Viewer, 200, 200, None),
        row("POST", "/v1/runs", Runner, 201, 422, Submission),
        row("GET", "/v1/runs/{id}", Viewer, 200, 404, None),
        row("POST", "/v1/runs/{id}/cancel", Runner, 409, 404, None),
        row("POST", "/v1/runs/{id}/retry", Runner, 409, 404, None),
        row("GET", "/v1/runs/{id}/events", Viewer, 200, 404, None),
        row("GET", "/v1/runs/{id}/events/stream", Viewer, 200, 404, None),
        row("GET", "/v1/runs/{id}/diff", Viewer, 409, 404, None),
        row(
            "POST",
            "/v1/runs/{id}/messages",
            Runner,
            409,
            404,
            Json(json!({"message": "more"})),
        ),
        row("POST", "/v1/runs/{id}/approve", Reviewer, 409, 404, None),
        row("POST", "/v1/runs/{id}/reject", Reviewer, 409, 404, None),
        row(
            "POST",
            "/v1/runs/{id}/exec",
            Admin,
            409,
            403,
            Json(json!({"cmd": "true"})),
        ),
        row(
            "GET",
            "/v1/runs/{id}/requests/{request_id}",
            Viewer,
            200,
            404,
            None,
        ),
        row("GET", "/v1/workers", Viewer, 200, 200, None),
        row("GET", "/v1/stats", Viewer, 200, 200, None),
    ]
}

/// The documented `/v1` operations, with `{id}` of projects written
/// `{project}` as in the table.
async fn documented_v1(api: &ApiHandle) -> BTreeSet<(String, String)> {
    let doc: Value = api
        .http
        .get(format!("{}/openapi.json", api.base_url))
        .send()
        .await
        .expect("openapi.json")
        .json()
        .await
        .expect("JSON");
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        // The console's sign-in is the one /v1 route without a token
        // (tests/pipeline/console_session.rs).
        if !path.starts_with("/v1/") || path == SIGN_IN {
            continue;
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                let path = path.replace("/v1/projects/{id}", "/v1/projects/{project}");
                operations.insert((method.to_uppercase(), path));
            }
        }
    }
    operations
}

/// The fixture: projects A and B, a completed run in A with a request.
struct Fixture {
    project_a: String,
    project_b: String,
    run: String,
    request: String,
}

impl Fixture {
    fn path(&self, template: &str) -> String {
        template
            .replace("{project}", &self.project_a)
            .replace("{id}", &self.run)
            .replace("{request_id}", &self.request)
    }

    fn body(&self, body: &Body, project: &str) -> Option<Value> {
        match body {
            Body::None => None,
            Body::NewProject => Some(json!({"name": format!("p-{}", uuid::Uuid::new_v4())})),
            Body::Submission => {
                Some(json!({"project_id": project, "goal": "g", "params": {"step_delay_ms": 0}}))
            }
            Body::Json(value) => Some(value.clone()),
        }
    }
}

/// Sends a row's request with `token`.
async fn send(api: &ApiHandle, token: &str, fixture: &Fixture, row: &Row) -> (u16, Value) {
    let method = Method::from_bytes(row.method.as_bytes()).expect("method");
    let body = fixture.body(&row.body, &fixture.project_a);
    api.request_as(token, method, &fixture.path(row.path), body)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_answers_each_role_and_a_token_scoped_elsewhere_as_the_table_says() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project_a = api.project().await;
    let project_b = api.project().await;
    let run = api.submit(&project_a, json!({"step_delay_ms": 0})).await;
    api.wait_for(&run, &["COMPLETED"], Duration::from_secs(30))
        .await;
    let request = uuid::Uuid::now_v7();
    let run_id: uuid::Uuid = run.parse().expect("run id");
    env.sql(
        "INSERT INTO run_requests (id, run_id, kind, worker_id, status, result)
         VALUES ($1, $2, 'EXEC', 'w-gone', 'DONE', '{\"exit_code\": 0}')",
        &[&request, &run_id],
    )
    .await;
    let fixture = Fixture {
        project_a,
        project_b,
        run,
        request: request.to_string(),
    };

    let table = table();
    let rows: BTreeSet<(String, String)> = table
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(
        rows,
        documented_v1(&api).await,
        "every documented /v1 route has exactly one row"
    );

    let mut tokens = Vec::new();
    for role in Role::ALL {
        let token = if role == Role::Admin {
            api.token.clone()
        } else {
            env.token_with(role, &[]).await
        };
        tokens.push((role, token));
    }
    let elsewhere = env.token_with(Role::Reviewer, &[&fixture.project_b]).await;

    for row in &table {
        for (role, token) in &tokens {
            let (status, body) = send(&api, token, &fixture, row).await;
            let expected = if *role >= row.needs { row.allowed } else { 403 };
            assert_eq!(
                status, expected,
                "{} {} as {role}: {body}",
                row.method, row.path
            );
            if status == 403 {
                assert_eq!(body["error"]["code"], "forbidden", "{body}");
                let needed = format!("needs the {} role", row.needs);
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(&needed)),
                    "{} {} as {role}: {body}",
                    row.method,
                    row.path
                );
            }
        }
        let (status, body) = send(&api, &elsewhere, &fixture, row).await;
        assert_eq!(
            status, row.scoped_elsewhere,
            "{} {} scoped to another project: {body}",
            row.method, row.path
        );
    }

    // Lists are filtered in the query, with and without project_id.
    let (_, page) = api
        .request_as(&elsewhere, Method::GET, "/v1/runs", None)
        .await;
    assert_eq!(page["runs"], json!([]), "{page}");
    let (_, page) = api
        .request_as(
            &elsewhere,
            Method::GET,
            &format!("/v1/runs?project_id={}", fixture.project_a),
            None,
        )
        .await;
    assert_eq!(page["runs"], json!([]), "{page}");
    let (_, listed) = api
        .request_as(&elsewhere, Method::GET, "/v1/projects", None)
        .await;
    let ids: Vec<&str> = listed["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, [fixture.project_b.as_str()], "{listed}");

    // In its own project the scoped token works as its role says.
    let (status, own) = api
        .request_as(
            &elsewhere,
            Method::POST,
            "/v1/runs",
            fixture.body(&Body::Submission, &fixture.project_b),
        )
        .await;
    assert_eq!(status, 201, "{own}");
    let own_run = own["id"].as_str().expect("run id");
    let (status, _) = api
        .request_as(
            &elsewhere,
            Method::GET,
            &format!("/v1/runs/{own_run}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, page) = api
        .request_as(&elsewhere, Method::GET, "/v1/runs", None)
        .await;
    let listed: Vec<&str> = page["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(listed, [own_run], "{page}");

    // The document says what the table found: 403 where a role is refused,
    // 404 on what a scoped token can not see.
    let doc: Value = api
        .http
        .get(format!("{}/openapi.json", api.base_url))
        .send()
        .await
        .expect("openapi.json")
        .json()
        .await
        .expect("JSON");
    for row in &table {
        let path = row.path.replace("{project}", "{id}");
        let responses = &doc["paths"][&path][row.method.to_lowercase()]["responses"];
        if row.needs > Role::Viewer {
            assert!(
                responses.get("403").is_some(),
                "{} {path} documents 403",
                row.method
            );
        }
        if row.scoped_elsewhere == 404 {
            assert!(
                responses.get("404").is_some(),
                "{} {path} documents 404",
                row.method
            );
        }
    }

    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_event_stream_of_a_run_outside_the_tokens_projects_is_refused_before_it_starts() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project_a = api.project().await;
    let project_b = api.project().await;
    // No worker: the run stays QUEUED, so an accepted stream would stay open.
    let run = api.submit(&project_a, json!({})).await;
    let elsewhere = env.token_with(Role::Viewer, &[&project_b]).await;
    let inside = env.token_with(Role::Viewer, &[&project_a]).await;
    let url = format!("{}/v1/runs/{run}/events/stream", api.base_url);

    let refused = api
        .http
        .get(&url)
        .bearer_auth(&elsewhere)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("answered at once");
    assert_eq!(refused.status(), 404);
    let body: Value = refused.json().await.expect("JSON error");
    assert_eq!(body["error"]["code"], "not_found", "{body}");

    let accepted = api
        .http
        .get(&url)
        .bearer_auth(&inside)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("stream opened");
    assert_eq!(accepted.status(), 200);
    assert!(
        accepted.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/event-stream"))
    );
    drop(accepted);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_bearer_scheme_is_read_in_any_case() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = api
            .http
            .get(format!("{}/v1/projects", api.base_url))
            .header("authorization", format!("{scheme} {}", api.token))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 200, "{scheme}");
    }
    api.stop().await;
}

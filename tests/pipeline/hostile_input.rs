//! Hostile and broken clients: characters PostgreSQL can not store, bodies
//! of the wrong shape, connections that trickle or stall, token guessing.
//! Each gets a JSON error (or a closed connection) and nothing is stored.

use agent_runner_tests::{ApiHandle, TestEnv};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

async fn count(env: &TestEnv, table: &str) -> i64 {
    env.sql(&format!("SELECT count(*) FROM {table}"), &[]).await[0].get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nul_character_in_any_field_gets_422_naming_the_field_and_stores_nothing() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let run = api.submit(&project, json!({"step_delay_ms": 0})).await;
    let (runs, projects) = (count(&env, "runs").await, count(&env, "projects").await);
    let nul = "a\u{0}b";
    let cases = [
        (
            Method::POST,
            "/v1/runs".to_owned(),
            json!({"project_id": project, "goal": nul}),
            "goal",
        ),
        (
            Method::POST,
            "/v1/runs".to_owned(),
            json!({"project_id": project, "goal": "g", "params": {"step_delay_ms": 0, "note": [nul]}}),
            "params.note[0]",
        ),
        (
            Method::POST,
            "/v1/runs".to_owned(),
            json!({"project_id": project, "goal": "g", "params": {nul: 1}}),
            "params.a\\u0000b",
        ),
        (
            Method::POST,
            "/v1/projects".to_owned(),
            json!({"name": nul}),
            "name",
        ),
        (
            Method::POST,
            "/v1/projects".to_owned(),
            json!({"name": "n", "default_branch": nul}),
            "default_branch",
        ),
        (
            Method::POST,
            "/v1/projects".to_owned(),
            json!({"name": "n", "repo_url": nul}),
            "repo_url",
        ),
        (
            Method::PATCH,
            format!("/v1/projects/{project}"),
            json!({"settings": {"team": nul}}),
            "settings.team",
        ),
        (
            Method::POST,
            format!("/v1/runs/{run}/messages"),
            json!({"message": nul}),
            "message",
        ),
        (
            Method::POST,
            format!("/v1/runs/{run}/approve"),
            json!({"merge_into": nul}),
            "merge_into",
        ),
        (
            Method::POST,
            format!("/v1/runs/{run}/exec"),
            json!({"cmd": nul}),
            "cmd",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, answer) = api.request(method.clone(), &path, Some(body)).await;
        assert_eq!(status, 422, "{method} {path} → {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed", "{answer}");
        assert!(
            message(&answer).starts_with(&format!("{field}: contains a NUL")),
            "{method} {path}: `{}` should name {field}",
            message(&answer)
        );
    }
    assert_eq!(count(&env, "runs").await, runs, "no run was stored");
    assert_eq!(
        count(&env, "projects").await,
        projects,
        "no project was stored"
    );
    let (_, shown) = api.get(&format!("/v1/projects/{project}")).await;
    assert_eq!(shown["settings"], json!({}), "the project did not change");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_that_is_not_a_json_object_gets_422() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    for (path, body) in [
        ("/v1/runs", json!([project, "goal"])),
        ("/v1/projects", json!(["name"])),
        ("/v1/runs", json!("goal")),
        ("/v1/projects", json!(null)),
    ] {
        let (status, answer) = api.post(path, body.clone()).await;
        assert_eq!(status, 422, "{path} {body} → {answer}");
        assert!(
            message(&answer).contains("must be a JSON object"),
            "{answer}"
        );
    }
    assert_eq!(count(&env, "runs").await, 0);
    api.stop().await;
}

/// Reads from `stream` until the server closes it; the time that took.
async fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

fn addr(api: &ApiHandle) -> String {
    api.base_url.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_trickles_its_headers_or_sits_idle_is_cut_off() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[("HEADER_READ_TIMEOUT_S", "1")]).await;

    // A byte every 200 ms: never a whole header, always some traffic.
    let mut slow = TcpStream::connect(addr(&api)).await.expect("connect");
    let trickle = async {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if slow.write_all(&[*byte]).await.is_err() {
                return Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        unreachable!("the cycle never ends")
    };
    let started = Instant::now();
    let cut = tokio::time::timeout(Duration::from_secs(10), trickle)
        .await
        .expect("the server cut the trickling connection within 10 s");
    assert!(
        cut - started < Duration::from_secs(5),
        "{:?}",
        cut - started
    );

    // Connected, says nothing.
    let mut idle = TcpStream::connect(addr(&api)).await.expect("connect");
    let closed = time_until_closed(&mut idle, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "an idle connection is closed");

    // A whole request is answered, and the kept-alive connection is closed
    // once it has been idle for the timeout.
    let mut kept = TcpStream::connect(addr(&api)).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).await.expect("answer");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let closed = time_until_closed(&mut kept, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "an idle kept-alive connection is closed");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_that_stalls_gets_a_json_408_and_stores_nothing() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[("BODY_READ_TIMEOUT_S", "1")]).await;
    let mut stream = TcpStream::connect(addr(&api)).await.expect("connect");
    let head = format!(
        "POST /v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"goal\": ",
        api.token
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered and closed within 10 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert_eq!(count(&env, "runs").await, 0);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answer_carries_the_security_headers() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let requests = [
        api.http.get(format!("{}/healthz", api.base_url)),
        api.http.get(format!("{}/v1/runs", api.base_url)),
        api.http
            .get(format!("{}/v1/runs", api.base_url))
            .bearer_auth(&api.token),
        api.http.get(format!("{}/no/such/route", api.base_url)),
        api.http
            .post(format!("{}/v1/runs", api.base_url))
            .bearer_auth(&api.token)
            .json(&json!({"goal": ""})),
    ];
    for request in requests {
        let response = request.send().await.expect("sent");
        let headers = response.headers();
        let shown = format!("{} {headers:?}", response.status());
        assert_eq!(headers["x-content-type-options"], "nosniff", "{shown}");
        assert_eq!(headers["cache-control"], "no-store", "{shown}");
        assert_eq!(headers["x-frame-options"], "DENY", "{shown}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{shown}");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .is_ok_and(|v| v.contains("default-src 'none'")),
            "{shown}"
        );
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_address_that_keeps_failing_to_authenticate_gets_429_with_retry_after() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[("AUTH_FAILURES_PER_MINUTE", "3")]).await;
    let (status, _) = api.request(Method::GET, "/v1/runs", None).await;
    assert_eq!(status, 200, "a good token is never counted");
    for _ in 0..3 {
        let (status, _) = api
            .request_as("art_guess", Method::GET, "/v1/runs", None)
            .await;
        assert_eq!(status, 401);
    }
    let response = api
        .http
        .get(format!("{}/v1/runs", api.base_url))
        .bearer_auth("art_guess")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    let (status, _) = api.request(Method::GET, "/v1/runs", None).await;
    assert_eq!(
        status, 429,
        "the address is braked, whatever token it shows"
    );
    let (status, _) = api.get("/healthz").await;
    assert_eq!(status, 200, "routes without a token are not braked");
    api.stop().await;
}

/// Sends `request` on a new connection and reads the answer to its end.
async fn raw_answer(api: &ApiHandle, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr(api)).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the api answers and closes")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_hyper_can_not_parse_gets_a_json_error_too() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let many_headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge_header = format!("X-Big: {}\r\n", "a".repeat(1024 * 1024));
    let cases = [
        (
            "GET /healthz HTTP/1.1\r\nHost: x\r\nNot a header\r\n\r\n".to_owned(),
            "400",
            "bad_request",
        ),
        (
            "G\u{1}T /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
            "400",
            "bad_request",
        ),
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n"),
            "431",
            "headers_too_large",
        ),
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{huge_header}\r\n"),
            "431",
            "headers_too_large",
        ),
    ];
    for (request, status, code) in cases {
        let answer = raw_answer(&api, request.as_bytes()).await;
        let shown = &answer[..answer.len().min(300)];
        let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{shown}");
        let lower = head.to_ascii_lowercase();
        assert!(lower.contains("content-type: application/json"), "{shown}");
        assert!(lower.contains("x-content-type-options: nosniff"), "{shown}");
        let body: Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(body["error"]["code"], code, "{shown}");
    }
    // The connection loop serves new connections as before.
    let (status, _) = api.get("/healthz").await;
    assert_eq!(status, 200);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_path_segment_that_is_not_utf8_gets_a_json_404_on_every_route_that_takes_one() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let doc: Value = api
        .http
        .get(format!("{}/openapi.json", api.base_url))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("document");
    let mut probed = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.contains('{') {
            continue;
        }
        // Every parameter is `%FF`: a byte that decodes to no UTF-8 at all.
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "%FF" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["get", "post", "patch"] {
            if item.get(method).is_none() {
                continue;
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let response = api
                .http
                .request(method.clone(), format!("{}{concrete}", api.base_url))
                .bearer_auth(&api.token)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("sent");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(status, 404, "{method} {concrete}: {body}");
            assert_eq!(body["error"]["code"], "not_found", "{method} {concrete}");
            probed += 1;
        }
    }
    assert!(
        probed >= 10,
        "only {probed} operations take a path parameter"
    );
    api.stop().await;
}

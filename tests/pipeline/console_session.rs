//! The console's sign-in at the HTTP level: the session cookie and its
//! flags, what the cookie may do (as its token, within its scope), the
//! cross-site check on everything that changes state, sign-out, revocation
//! and expiry ending the session, and the page itself.

use agent_runner_store::access::Role;
use agent_runner_store::tokens;
use agent_runner_tests::{ApiHandle, TestEnv};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Method, Response};
use serde_json::{Value, json};

/// A browser's view of a session: the cookie and the CSRF token.
struct Signed {
    cookie: String,
    csrf: String,
    set_cookie: String,
}

async fn sign_in(api: &ApiHandle, token: &str) -> Signed {
    let response = api
        .http
        .post(format!("{}/v1/session", api.base_url))
        .json(&json!({ "token": token }))
        .send()
        .await
        .expect("sign-in sent");
    assert_eq!(response.status(), 201);
    let set_cookie = response
        .headers()
        .get(SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = response.json().await.expect("json");
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    Signed {
        cookie,
        csrf: body["csrf_token"].as_str().expect("csrf_token").to_owned(),
        set_cookie,
    }
}

/// A request with the session's cookie; `csrf` and `origin` as given.
async fn with_cookie(
    api: &ApiHandle,
    signed: &Signed,
    method: Method,
    path: &str,
    body: Option<Value>,
    csrf: Option<&str>,
    origin: Option<&str>,
) -> (u16, Value) {
    let mut request = api
        .http
        .request(method, format!("{}{path}", api.base_url))
        .header(COOKIE, &signed.cookie);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_token_is_traded_for_an_http_only_strict_cookie_that_acts_as_the_token() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[("CONSOLE_SESSION_TTL_S", "600")]).await;
    let runner = env.token_with(Role::Runner, &[]).await;
    let signed = sign_in(&api, &runner).await;

    let flags: Vec<&str> = signed.set_cookie.split("; ").collect();
    assert!(signed.cookie.starts_with("agent_runner_session=ars_"));
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=600"] {
        assert!(flags.contains(&flag), "{flag} in {}", signed.set_cookie);
    }
    assert!(
        !signed.set_cookie.contains("Secure"),
        "plain http: no Secure"
    );
    assert!(
        !signed.set_cookie.contains(&runner),
        "the cookie is not the token"
    );

    let (status, session) =
        with_cookie(&api, &signed, Method::GET, "/v1/session", None, None, None).await;
    assert_eq!(status, 200);
    assert_eq!(session["role"], "runner");
    assert_eq!(session["projects"], Value::Null);
    assert!(!session.to_string().contains(&runner), "{session}");

    // The cookie reads and, with the CSRF token, acts as a runner; it can
    // not do what a runner may not.
    let project = api.project().await;
    let (status, _) = with_cookie(&api, &signed, Method::GET, "/v1/runs", None, None, None).await;
    assert_eq!(status, 200);
    let submit = json!({"project_id": project, "goal": "from the console"});
    let (status, run) = with_cookie(
        &api,
        &signed,
        Method::POST,
        "/v1/runs",
        Some(submit),
        Some(&signed.csrf),
        Some(&api.base_url),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    let (status, body) = with_cookie(
        &api,
        &signed,
        Method::POST,
        "/v1/projects",
        Some(json!({"name": "not-mine-to-make"})),
        Some(&signed.csrf),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    api.stop().await;
}

#[tokio::test]
async fn the_cookie_is_secure_behind_an_https_proxy() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let response = api
        .http
        .post(format!("{}/v1/session", api.base_url))
        .header("x-forwarded-proto", "https")
        .json(&json!({ "token": env.token }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let cookie = response.headers()[SET_COOKIE].to_str().expect("ascii");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    api.stop().await;
}

#[tokio::test]
async fn a_wrong_or_revoked_token_gets_a_clear_401_and_no_cookie() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let (revoked, info) = tokens::create(&env.pool, "gone", Role::Viewer, None)
        .await
        .expect("token");
    assert!(tokens::revoke(&env.pool, &info.name).await.expect("revoke"));
    for token in ["art_0000", revoked.as_str(), ""] {
        let response: Response = api
            .http
            .post(format!("{}/v1/session", api.base_url))
            .json(&json!({ "token": token }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 401, "{token}");
        assert!(response.headers().get(SET_COOKIE).is_none());
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert_eq!(
            body["error"]["message"],
            "this token is not valid or has been revoked"
        );
    }
    let rows = env
        .sql("SELECT count(*)::int FROM console_sessions", &[])
        .await;
    assert_eq!(rows[0].get::<_, i32>(0), 0);
    api.stop().await;
}

#[tokio::test]
async fn changes_need_the_csrf_token_and_the_own_origin() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let signed = sign_in(&api, &env.token).await;
    let project = api.project().await;
    let run = api.submit(&project, json!({})).await;
    let cancel = format!("/v1/runs/{run}/cancel");

    for (csrf, origin) in [
        (None, None),
        (Some("not-the-token"), None),
        (Some(signed.csrf.as_str()), Some("http://evil.example")),
        (Some(signed.csrf.as_str()), Some("null")),
    ] {
        let (status, body) =
            with_cookie(&api, &signed, Method::POST, &cancel, None, csrf, origin).await;
        assert_eq!(status, 403, "{csrf:?} {origin:?}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("cross-site request refused")),
            "{body}"
        );
    }
    let (_, still) = api.get(&format!("/v1/runs/{run}")).await;
    assert_eq!(still["status"], "QUEUED", "nothing was cancelled");

    let (status, body) = with_cookie(
        &api,
        &signed,
        Method::POST,
        &cancel,
        None,
        Some(&signed.csrf),
        Some(&api.base_url),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "CANCELLED");
    api.stop().await;
}

#[tokio::test]
async fn sign_out_revocation_and_expiry_end_the_session() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let viewer = env.token_with(Role::Viewer, &[]).await;

    // Sign-out needs the CSRF token, then ends the session server-side.
    let signed = sign_in(&api, &viewer).await;
    let (status, _) = with_cookie(
        &api,
        &signed,
        Method::DELETE,
        "/v1/session",
        None,
        None,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let response = api
        .http
        .delete(format!("{}/v1/session", api.base_url))
        .header(COOKIE, &signed.cookie)
        .header("x-csrf-token", &signed.csrf)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 204);
    let cleared = response.headers()[SET_COOKIE].to_str().expect("ascii");
    assert!(cleared.starts_with("agent_runner_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (status, _) = with_cookie(&api, &signed, Method::GET, "/v1/runs", None, None, None).await;
    assert_eq!(status, 401, "the old cookie is dead");

    // Revoking the token ends its sessions.
    let (secret, info) = tokens::create(&env.pool, "to-revoke", Role::Viewer, None)
        .await
        .expect("token");
    let signed = sign_in(&api, &secret).await;
    let (status, _) = with_cookie(&api, &signed, Method::GET, "/v1/runs", None, None, None).await;
    assert_eq!(status, 200);
    assert!(tokens::revoke(&env.pool, &info.name).await.expect("revoke"));
    let (status, _) = with_cookie(&api, &signed, Method::GET, "/v1/runs", None, None, None).await;
    assert_eq!(status, 401);

    // An expired session is dead.
    let signed = sign_in(&api, &viewer).await;
    env.sql(
        "UPDATE console_sessions SET expires_at = now() - interval '1 second'",
        &[],
    )
    .await;
    let (status, body) =
        with_cookie(&api, &signed, Method::GET, "/v1/session", None, None, None).await;
    assert_eq!(status, 401, "{body}");
    api.stop().await;
}

#[tokio::test]
async fn a_scoped_session_sees_only_its_projects() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let mine = api.project().await;
    let other = api.project().await;
    let my_run = api.submit(&mine, json!({})).await;
    let other_run = api.submit(&other, json!({})).await;
    let scoped = env.token_with(Role::Runner, &[&mine]).await;
    let signed = sign_in(&api, &scoped).await;

    let (_, session) =
        with_cookie(&api, &signed, Method::GET, "/v1/session", None, None, None).await;
    assert_eq!(session["projects"], json!([mine]));
    let (_, page) = with_cookie(&api, &signed, Method::GET, "/v1/runs", None, None, None).await;
    let ids: Vec<&str> = page["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, [my_run.as_str()]);
    let (status, _) = with_cookie(
        &api,
        &signed,
        Method::GET,
        &format!("/v1/runs/{other_run}"),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);
    api.stop().await;
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_and_no_data() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let root = no_redirects
        .get(format!("{}/", api.base_url))
        .send()
        .await
        .expect("sent");
    assert!(root.status().is_redirection());
    assert_eq!(root.headers()["location"], "/ui/");

    for path in [
        "/ui/",
        "/ui/runs/0190a1b2-0000-7000-8000-000000000000",
        "/ui/submit",
    ] {
        let page = api
            .http
            .get(format!("{}{path}", api.base_url))
            .send()
            .await
            .expect("sent");
        assert_eq!(page.status(), 200, "{path}");
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(
            page.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/html")
        );
        let html = page.text().await.expect("html");
        assert!(html.contains("/ui/assets/"), "the page loads its modules");
        assert!(!html.contains("art_"), "no token in the page");
    }
    let missing = api
        .http
        .get(format!("{}/ui/assets/nope.js", api.base_url))
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json error");
    assert_eq!(body["error"]["code"], "not_found");
    api.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_count_against_the_failed_authentication_limit() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[("AUTH_FAILURES_PER_MINUTE", "2")]).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = api
            .http
            .post(format!("{}/v1/session", api.base_url))
            .json(&json!({ "token": "art_guess" }))
            .send()
            .await
            .expect("sent");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429]);
    let (status, _) = api.get("/v1/runs").await;
    assert_eq!(status, 429, "the same address, also with a good token");
    api.stop().await;
}

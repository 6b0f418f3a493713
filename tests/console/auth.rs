//! Signing in and out: the guard in front of every page, a refused token, a
//! good one (never kept by the page), and a sign-out that ends the session.

use crate::support::Console;
use agent_runner_store::access::Role;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_out_visit_to_a_run_shows_only_the_sign_in_page() {
    let c = Console::start().await;
    let project = c.project("guarded").await;
    let run = c
        .submit(&project, "secret goal of the guarded run", json!({}))
        .await;

    c.browser.goto(&format!("/ui/runs/{run}")).await;
    c.browser.wait_for("#signin-form").await;
    let page = c.browser.text("body").await;
    assert!(page.contains("Sign in"), "{page}");
    assert!(
        !page.contains("secret goal"),
        "run data shown signed out: {page}"
    );
    assert!(
        !page.contains(&run[run.len() - 8..]),
        "run id shown signed out: {page}"
    );
    assert_eq!(c.browser.count("#run-head, .topbar, #timeline").await, 0);
    assert_eq!(c.browser.path().await, format!("/ui/runs/{run}"));
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_refused_with_a_message_and_sets_no_cookie() {
    let mut c = Console::start().await;
    c.browser.goto("/ui/").await;
    c.browser.fill("#token", "art_not_a_real_token").await;
    c.browser.click("#sign-in").await;
    let message = c
        .browser
        .wait_for_text("#signin-message", "Sign-in failed")
        .await;
    assert!(message.len() > "Sign-in failed: ".len(), "{message}");
    assert!(c.browser.cookies().await.is_empty(), "a cookie was set");
    assert_eq!(c.browser.count(".topbar").await, 0);
    let field = c
        .browser
        .eval("return document.querySelector('#token').value;")
        .await;
    assert_eq!(field, "", "the refused token stays in the field");
    // The console log is read: the refused sign-in is in it (as an api
    // answer the page handled, not as an error of the page).
    let logged = c.browser.console_entries().await;
    assert!(
        logged
            .iter()
            .any(|m| m.contains("/v1/session") && m.contains("401")),
        "{logged:?}"
    );
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_token_signs_in_shows_its_name_and_role_and_is_kept_nowhere() {
    let c = Console::start().await;
    let token = c.env.token_with(Role::Reviewer, &[]).await;
    c.browser.sign_in(&token).await;

    assert!(c.browser.text("#who-name").await.starts_with("reviewer-"));
    assert_eq!(c.browser.text("#who-role").await.to_lowercase(), "reviewer");
    let cookies = c.browser.cookies().await;
    assert!(
        cookies
            .iter()
            .any(|(name, _)| name == "agent_runner_session"),
        "{cookies:?}"
    );
    let kept = c
        .browser
        .eval(
            "return JSON.stringify(localStorage) + JSON.stringify(sessionStorage) \
             + location.href + document.documentElement.outerHTML;",
        )
        .await;
    let kept = kept.as_str().unwrap_or_default();
    assert!(!kept.contains(&token), "the token is kept by the page");
    assert!(cookies.iter().all(|(_, value)| !value.contains(&token)));
    // A reload keeps the session (the cookie), not the sign-in page.
    c.browser.client.refresh().await.expect("reload");
    c.browser.wait_for("#who-name").await;
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_session_and_a_reload_shows_the_sign_in_page() {
    let c = Console::signed_in(Role::Runner).await;
    let (_, session) = c
        .browser
        .cookies()
        .await
        .into_iter()
        .find(|(name, _)| name == "agent_runner_session")
        .expect("the session cookie");

    c.browser.click("#sign-out").await;
    c.browser.wait_for("#signin-form").await;
    c.browser.client.refresh().await.expect("reload");
    c.browser.wait_for("#signin-form").await;
    assert_eq!(c.browser.count(".topbar").await, 0);

    // The old cookie no longer opens a session on the server.
    let answer = c
        .api
        .http
        .get(format!("{}/v1/session", c.api.base_url))
        .header("cookie", format!("agent_runner_session={session}"))
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 401);
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_page_goes_back_to_sign_in_once_its_token_is_revoked() {
    let c = Console::signed_in(Role::Viewer).await;
    c.browser.wait_for("#runs-table").await;
    let name = c.browser.text("#who-name").await;
    assert!(
        agent_runner_store::tokens::revoke(&c.env.pool, &name)
            .await
            .expect("revoke"),
        "no token named {name}"
    );
    // The list's next refresh answers 401: the page shows sign-in, no data.
    c.browser.wait_for("#signin-form").await;
    assert_eq!(c.browser.count(".topbar, #runs-table").await, 0);
    c.finish().await;
}

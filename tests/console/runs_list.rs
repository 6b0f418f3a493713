//! The runs list: live without a reload, filters kept in the query string,
//! and a scoped token's list holding only its projects' runs.

use crate::support::Console;
use agent_runner_store::access::Role;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_submitted_over_the_api_appears_and_completes_in_the_list_without_a_reload() {
    let c = Console::signed_in(Role::Viewer).await;
    let worker = c.worker().await;
    let project = c.project("listed").await;
    c.browser.wait_for("#runs-table").await;
    c.browser.eval("window.__sameDocument = true;").await;

    let run = c
        .submit(&project, "appear in the list", json!({"step_delay_ms": 0}))
        .await;
    let row = format!("#runs-body tr[data-id=\"{run}\"]");
    let text = c.browser.wait_for_text(&row, "appear in the list").await;
    assert!(text.contains(&run[run.len() - 8..]), "short id: {text}");
    // The project was created after the page loaded the names it knew.
    assert!(text.contains("listed"), "project name: {text}");
    assert!(text.contains("simulated"), "{text}");
    c.browser
        .wait_for(&format!("{row} .status[data-status=\"COMPLETED\"]"))
        .await;
    assert_eq!(
        c.browser
            .eval("return window.__sameDocument === true;")
            .await,
        true,
        "the page was reloaded"
    );
    worker.stop().await;
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_are_kept_in_the_query_string_and_survive_a_reload() {
    let c = Console::signed_in(Role::Viewer).await;
    let alpha = c.project("alpha").await;
    let beta = c.project("beta").await;
    c.submit(&alpha, "polish the alpha docs", json!({})).await;
    c.submit(&beta, "polish the beta docs", json!({})).await;
    c.submit(&alpha, "rewrite the alpha parser", json!({}))
        .await;
    c.browser
        .wait_for_text("#runs-body", "rewrite the alpha parser")
        .await;
    c.browser.wait_for_text("#filter-project", "alpha").await;
    c.browser.select("#filter-project", &alpha).await;
    c.browser.fill("#filter-q", "POLISH").await;
    c.browser
        .wait_for_text("#runs-body", "polish the alpha docs")
        .await;
    c.browser.wait_gone("#runs-body tr:nth-child(2)").await;
    let path = c.browser.path().await;
    assert!(path.contains(&format!("project={alpha}")), "{path}");
    assert!(path.contains("q=POLISH"), "{path}");

    c.browser.client.refresh().await.expect("reload");
    c.browser
        .wait_for_text("#runs-body", "polish the alpha docs")
        .await;
    assert_eq!(c.browser.count("#runs-body tr").await, 1);
    // The project names arrive after the rows: wait for the option, then
    // read what is selected.
    c.browser
        .wait_for(&format!(
            "#filter-project option[value=\"{alpha}\"]:checked"
        ))
        .await;
    let kept = c
        .browser
        .eval("return [document.querySelector('#filter-project').value, document.querySelector('#filter-q').value];")
        .await;
    assert_eq!(kept, json!([alpha, "POLISH"]));
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_sees_only_its_projects_runs() {
    let c = Console::start().await;
    let mine = c.project("mine").await;
    let theirs = c.project("theirs").await;
    let hidden = c.submit(&theirs, "a run of another team", json!({})).await;
    c.submit(&mine, "a run of my team", json!({})).await;
    let token = c.env.token_with(Role::Runner, &[&mine]).await;
    c.browser.sign_in(&token).await;

    c.browser
        .wait_for_text("#runs-body", "a run of my team")
        .await;
    assert_eq!(c.browser.count("#runs-body tr").await, 1);
    assert!(!c.browser.text("body").await.contains("another team"));
    c.browser.wait_for_text("#filter-project", "mine").await;
    let projects = c.browser.texts("#filter-project option").await;
    assert_eq!(projects, ["Any project", "mine"]);

    // Its page is not found, as over the api.
    c.browser.goto(&format!("/ui/runs/{hidden}")).await;
    c.browser
        .wait_for_text("#run-head .notice-error", "no run")
        .await;
    assert!(!c.browser.text("body").await.contains("another team"));
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selected_runs_are_cancelled_together_after_a_confirmation() {
    let c = Console::signed_in(Role::Runner).await;
    let project = c.project("bulk").await;
    let first = c.submit(&project, "first in the queue", json!({})).await;
    let second = c.submit(&project, "second in the queue", json!({})).await;
    let kept = c.submit(&project, "stays in the queue", json!({})).await;
    for id in [&first, &second] {
        c.browser
            .click(&format!("#runs-body tr[data-id=\"{id}\"] .row-select"))
            .await;
    }
    c.browser.wait_for_text(".bulk-bar", "2 selected").await;

    c.browser.click("#cancel-selected").await;
    c.browser
        .wait_for_text("dialog[open]", "Cancel 2 runs?")
        .await;
    c.browser.dismiss_dialog().await;
    let (_, run) = c.api.get(&format!("/v1/runs/{first}")).await;
    assert_eq!(run["status"], "QUEUED", "dismissed, yet cancelled");

    c.browser.click("#cancel-selected").await;
    c.browser.confirm_dialog().await;
    c.browser
        .wait_for_text("#runs-notice", "Cancelled 2 runs.")
        .await;
    for id in [&first, &second] {
        c.browser
            .wait_for(&format!(
                "#runs-body tr[data-id=\"{id}\"] .status[data-status=\"CANCELLED\"]"
            ))
            .await;
        let (_, run) = c.api.get(&format!("/v1/runs/{id}")).await;
        assert_eq!(run["status"], "CANCELLED");
    }
    let (_, run) = c.api.get(&format!("/v1/runs/{kept}")).await;
    assert_eq!(run["status"], "QUEUED");
    c.finish().await;
}

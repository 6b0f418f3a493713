//! Projects: an admin creates one and edits its settings (the api's 422
//! under the settings field); other roles see the list only.

use crate::support::Console;
use agent_runner_store::access::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_creates_a_project_and_edits_its_settings() {
    let c = Console::signed_in(Role::Admin).await;
    c.browser.goto("/ui/projects").await;
    c.browser.fill("#new-field-name", "payments").await;
    c.browser
        .fill("#new-field-settings", "{\"require_approval\": \"yes\"}")
        .await;
    c.browser.click("#project-create button[type=submit]").await;
    c.browser
        .wait_for_text("#new-error-settings", "settings: ")
        .await;
    assert_eq!(
        c.api.get("/v1/projects").await.1["projects"],
        serde_json::json!([])
    );

    c.browser.fill("#new-field-settings", "").await;
    c.browser.click("#project-create button[type=submit]").await;
    c.browser
        .wait_for_text("#projects-notice", "Project payments created.")
        .await;
    let card = c
        .browser
        .wait_for_text("#project-list .project", "payments")
        .await;
    assert!(card.contains("main"), "{card}");

    c.browser.click("#project-list .project-edit").await;
    c.browser
        .fill(".project-editor textarea", "{\"require_approval\": true}")
        .await;
    c.browser.click(".project-editor button[type=submit]").await;
    c.browser
        .wait_for_text("#projects-notice", "Project payments saved.")
        .await;
    c.browser
        .wait_for_text("#project-list .project", "require_approval")
        .await;
    let (_, list) = c.api.get("/v1/projects").await;
    assert_eq!(list["projects"][0]["settings"]["require_approval"], true);
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_sees_the_projects_but_may_not_create_or_edit_them() {
    let c = Console::signed_in(Role::Runner).await;
    c.project("shared-lib").await;
    c.browser.goto("/ui/projects").await;
    c.browser.wait_for_text("#project-list", "shared-lib").await;
    assert_eq!(c.browser.count("#project-create, .project-edit").await, 0);
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_project_shows_its_tokens_against_its_budgets() {
    let c = Console::signed_in(Role::Viewer).await;
    let (status, body) = c
        .api
        .post(
            "/v1/projects",
            serde_json::json!({"name": "budgeted", "settings": {"token_budget_daily": 1000}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id: uuid::Uuid = body["id"].as_str().expect("id").parse().expect("uuid");
    c.env
        .sql(
            "INSERT INTO project_usage (project_id, day, tokens, calls)
             VALUES ($1, (clock_timestamp() AT TIME ZONE 'UTC')::date, 1500, 3)",
            &[&id],
        )
        .await;
    c.project("unbudgeted").await;
    c.browser.goto("/ui/projects").await;
    let usage = c
        .browser
        .wait_for_text(&format!("#usage-{id} .usage-today"), "tokens")
        .await;
    assert_eq!(usage, "today 1,500 tokens · 0 runs (budget 1,000)");
    c.browser
        .wait_for_text(&format!("#usage-{id} .usage-over"), "over its daily budget")
        .await;
    let month = c.browser.text(&format!("#usage-{id} .usage-month")).await;
    assert_eq!(month, "this month 1,500 tokens · 0 runs");
    assert_eq!(
        c.browser.count(".usage-over").await,
        1,
        "only the budgeted one"
    );
    c.finish().await;
}

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

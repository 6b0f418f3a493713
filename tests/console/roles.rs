//! What a role is not offered: a viewer sees runs but no Submit, Cancel,
//! Retry, Approve or Reject, and no follow-up or exec box.

use crate::support::Console;
use agent_runner_store::access::Role;
use serde_json::json;

const ACTIONS: [&str; 6] = ["Cancel", "Retry", "Approve", "Reject", "Submit", "New run"];

async fn assert_no_actions(c: &Console) {
    let buttons = c.browser.buttons().await;
    let links = c.browser.texts("a").await;
    for action in ACTIONS {
        assert!(
            !buttons
                .iter()
                .chain(&links)
                .any(|label| label.trim().starts_with(action)),
            "a viewer is offered {action}: buttons {buttons:?}, links {links:?}"
        );
    }
    assert_eq!(
        c.browser
            .count("input[type=checkbox], #follow-up-form, #exec-form")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_is_offered_no_action_on_the_list_or_on_a_run() {
    let c = Console::start().await;
    let project = c.project("read-only").await;
    let worker = c.worker().await;
    let failed = c
        .submit(
            &project,
            "fail for good",
            json!({"fail": "fatal", "step_delay_ms": 0}),
        )
        .await;
    c.wait_run(&failed, &["FAILED"]).await;
    worker.stop().await;
    let queued = c.submit(&project, "wait in the queue", json!({})).await;
    let token = c.env.token_with(Role::Viewer, &[]).await;
    c.browser.sign_in(&token).await;

    c.browser
        .wait_for_text("#runs-body", "wait in the queue")
        .await;
    c.browser.wait_for_text("#runs-body", "fail for good").await;
    assert_no_actions(&c).await;
    c.browser.goto(&format!("/ui/runs/{queued}")).await;
    c.wait_page_status("QUEUED").await;
    c.browser
        .wait_for_text("#run-waiting", "no live worker is connected to take it")
        .await;
    assert_no_actions(&c).await;
    c.browser.goto(&format!("/ui/runs/{failed}")).await;
    c.wait_page_status("FAILED").await;
    c.browser.wait_for("#run-error").await;
    assert_no_actions(&c).await;
    c.browser.goto("/ui/submit").await;
    c.browser.wait_for_text("main", "may not submit runs").await;
    assert_eq!(c.browser.count("#submit-form").await, 0);
    c.finish().await;
}

//! The submit form: JSON checked before sending, the api's 422 messages
//! under the field they name, and a good submission opening its run.

use crate::support::Console;
use agent_runner_store::access::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_submit_forms_errors_appear_next_to_their_field_and_a_good_run_opens() {
    let c = Console::signed_in(Role::Runner).await;
    let project = c.project("forms").await;
    c.browser.click("a.nav-link[href=\"/ui/submit\"]").await;
    c.browser.wait_for_text("#field-project_id", "forms").await;
    c.browser.select("#field-project_id", &project).await;

    // Not JSON: refused in the page, before any request.
    c.browser.fill("#field-goal", "tidy the imports").await;
    c.browser.fill("#field-params", "{step_delay_ms: 5").await;
    c.browser.click("#submit-run").await;
    c.browser
        .wait_for_text("#error-params", "params is not valid JSON")
        .await;

    // The api's messages, each under its field.
    c.browser
        .fill("#field-params", "{\"step_delay_ms\": 0}")
        .await;
    c.browser.fill("#field-timeout_s", "9999").await;
    c.browser.click("#submit-run").await;
    c.browser
        .wait_for_text(
            "#error-timeout_s",
            "timeout_s must be at most 3600, got 9999",
        )
        .await;
    assert_eq!(c.browser.text("#error-params").await, "");
    assert_eq!(c.browser.text("#form-error").await, "");

    c.browser.fill("#field-timeout_s", "").await;
    c.browser.fill("#field-max_attempts", "99").await;
    c.browser.click("#submit-run").await;
    c.browser
        .wait_for_text("#error-max_attempts", "max_attempts must be between 1 and")
        .await;
    assert_eq!(c.browser.text("#error-timeout_s").await, "");

    c.browser.fill("#field-max_attempts", "2").await;
    c.browser.fill("#field-priority", "11").await;
    c.browser.click("#submit-run").await;
    c.browser
        .wait_for_text(
            "#error-priority",
            "priority must be between -10 and 10, got 11",
        )
        .await;

    c.browser.fill("#field-priority", "-3").await;
    c.browser.fill("#field-goal", " ").await;
    c.browser.click("#submit-run").await;
    c.browser
        .wait_for_text("#error-goal", "goal must not be empty")
        .await;

    c.browser.fill("#field-goal", "tidy the imports").await;
    c.browser.click("#submit-run").await;
    c.browser
        .wait_for_text("#run-goal", "tidy the imports")
        .await;
    let path = c.browser.path().await;
    let id = path.strip_prefix("/ui/runs/").expect("the run's page");
    let (status, run) = c.api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["max_attempts"], 2);
    assert_eq!(run["priority"], -3);
    assert_eq!(run["params"]["step_delay_ms"], 0);
    c.finish().await;
}

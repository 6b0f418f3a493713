//! A run's page: its timeline follows the event stream live to the end, and
//! Cancel (through its confirmation) stops a running run.

use crate::support::Console;
use agent_runner_store::access::Role;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_page_follows_it_live_to_run_completed() {
    let c = Console::signed_in(Role::Viewer).await;
    let project = c.project("live").await;
    let run = c
        .submit(&project, "follow me live", json!({"step_delay_ms": 300}))
        .await;
    c.browser.goto(&format!("/ui/runs/{run}")).await;
    c.wait_page_status("QUEUED").await;
    c.browser
        .wait_for("#timeline [data-kind=\"RUN_CREATED\"]")
        .await;
    c.browser.eval("window.__sameDocument = true;").await;

    // The worker starts only now: everything after RUN_CREATED arrives live.
    let worker = c.worker().await;
    c.browser
        .wait_for("#timeline [data-kind=\"RUN_COMPLETED\"]")
        .await;
    c.wait_page_status("COMPLETED").await;
    let kinds = c.browser.texts("#timeline .event-kind").await;
    assert_eq!(
        kinds,
        [
            "RUN_CREATED",
            "RUN_STARTED",
            "AGENT_THINKING",
            "PLAN_GENERATED",
            "EXECUTING",
            "RUN_COMPLETED"
        ]
    );
    assert_eq!(
        c.browser
            .eval("return window.__sameDocument === true;")
            .await,
        true
    );
    assert_eq!(c.browser.text("#run-attempt").await, "1 / 3");
    assert_eq!(c.browser.text("#run-worker").await, worker.id);

    // Each event opens to its JSON payload.
    let plan = "#timeline [data-kind=\"PLAN_GENERATED\"]";
    assert!(
        !c.browser
            .eval(&format!(
                "return document.querySelector('{plan} details').open;"
            ))
            .await
            .as_bool()
            .unwrap_or(true)
    );
    c.browser.click(&format!("{plan} summary")).await;
    let payload = c
        .browser
        .wait_for_text(&format!("{plan} .event-payload"), "{")
        .await;
    serde_json::from_str::<serde_json::Value>(&payload).expect("the payload is shown as JSON");
    worker.stop().await;
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_asks_for_confirmation_and_ends_a_running_run_cancelled() {
    let c = Console::signed_in(Role::Runner).await;
    let worker = c.worker().await;
    let project = c.project("slow").await;
    let run = c
        .submit(&project, "take your time", json!({"step_delay_ms": 10000}))
        .await;
    c.wait_run(&run, &["RUNNING"]).await;
    c.browser.goto(&format!("/ui/runs/{run}")).await;
    c.wait_page_status("RUNNING").await;

    // Dismissed: nothing happens.
    c.browser.click("#action-cancel").await;
    c.browser.wait_for("dialog[open]").await;
    c.browser.dismiss_dialog().await;
    let (_, still) = c.api.get(&format!("/v1/runs/{run}")).await;
    assert_eq!(still["status"], "RUNNING");
    assert_eq!(still["cancel_requested"], false);

    c.browser.click("#action-cancel").await;
    c.browser.confirm_dialog().await;
    c.wait_page_status("CANCELLED").await;
    c.browser
        .wait_for("#timeline [data-kind=\"RUN_CANCELLED\"]")
        .await;
    c.browser.wait_for_text("#action-result", "Cancel").await;
    let (_, ended) = c.api.get(&format!("/v1/runs/{run}")).await;
    assert_eq!(ended["status"], "CANCELLED");
    // A cancelled run offers Retry, no longer Cancel.
    c.browser.wait_for("#action-retry").await;
    assert_eq!(c.browser.count("#action-cancel").await, 0);
    worker.stop().await;
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_a_failed_run_queues_a_new_attempt_that_the_page_follows_to_completed() {
    let c = Console::signed_in(Role::Runner).await;
    let worker = c.worker().await;
    let project = c.project("flaky").await;
    // The first attempt fails and is the last one allowed; a second succeeds.
    let run = c
        .api
        .submit_body(json!({"project_id": project, "goal": "fail once",
                            "params": {"fail_attempts": 1, "step_delay_ms": 50},
                            "max_attempts": 1}))
        .await;
    let failed = c.wait_run(&run, &["FAILED", "COMPLETED"]).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    c.browser.goto(&format!("/ui/runs/{run}")).await;
    c.wait_page_status("FAILED").await;
    assert_eq!(c.browser.text("#run-attempt").await, "1 / 1");
    c.browser
        .wait_for_text("#run-error", "simulated transient failure on attempt 1")
        .await;
    assert_eq!(c.browser.count("#action-cancel").await, 0);
    c.browser.eval("window.__sameDocument = true;").await;

    c.browser.click("#action-retry").await;
    c.browser
        .wait_for_text("#action-result", "Queued again as attempt 2.")
        .await;
    c.wait_page_status("COMPLETED").await;
    c.browser
        .wait_for("#timeline [data-kind=\"RUN_RETRYING\"] ~ [data-kind=\"RUN_COMPLETED\"]")
        .await;
    assert_eq!(c.browser.text("#run-attempt").await, "2 / 2");
    assert_eq!(c.browser.count("#run-error").await, 0);
    let kinds = c.browser.texts("#timeline .event-kind").await;
    let failed_at = kinds.iter().position(|k| k == "RUN_FAILED");
    let retried_at = kinds.iter().position(|k| k == "RUN_RETRYING");
    assert!(
        failed_at.is_some() && failed_at < retried_at,
        "the failure, then the retry: {kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "RUN_STARTED").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("RUN_COMPLETED"));
    assert_eq!(
        c.browser
            .eval("return window.__sameDocument === true;")
            .await,
        true
    );
    let (_, ended) = c.api.get(&format!("/v1/runs/{run}")).await;
    assert_eq!(ended["status"], "COMPLETED", "{ended}");
    assert_eq!(ended["attempt"], 2);
    // A completed run offers no Retry.
    assert_eq!(c.browser.count("#action-retry").await, 0);
    worker.stop().await;
    c.finish().await;
}

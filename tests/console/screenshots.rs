//! Screenshots of the main pages at laptop size (1280x800) and of the runs
//! list at phone width (390x844), over runs in every common state. Each page
//! must render its content; with `UPDATE_CONSOLE_SCREENSHOTS=1` the PNGs are
//! written to `docs/console/`.

use crate::support::Review;
use agent_runner_store::access::Role;
use agent_runner_tests::{Browser, LAPTOP, PHONE};
use serde_json::json;
use std::path::PathBuf;

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[1..4], b"PNG", "not a PNG");
    let word = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (word(16), word(20))
}

async fn shoot(browser: &Browser, name: &str, size: (u32, u32)) {
    // Let a refresh in flight land, and the pointer leave hover styles.
    browser
        .eval("document.activeElement && document.activeElement.blur();")
        .await;
    let png = browser.screenshot().await;
    assert_eq!(png_size(&png), size, "{name}");
    if std::env::var_os("UPDATE_CONSOLE_SCREENSHOTS").is_some() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
        std::fs::create_dir_all(&dir).expect("docs/console");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write the screenshot");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn screenshots_of_the_main_pages() {
    let r = Review::awaiting_approval(Role::Admin).await;
    let c = &r.console;
    let (_, body) = c.api.get("/v1/projects").await;
    let llm_project = body["projects"][0]["id"]
        .as_str()
        .expect("project")
        .to_owned();
    let web = c.project("web-frontend").await;
    let billing = c.project("billing-service").await;
    let done = [
        (
            &web,
            "Upgrade the bundler and fix the deprecation warnings",
            json!({"step_delay_ms": 0}),
        ),
        (
            &billing,
            "Add an index for invoices by customer and month",
            json!({"step_delay_ms": 10}),
        ),
        (
            &billing,
            "Retry webhook deliveries with jitter",
            json!({"fail": "fatal", "step_delay_ms": 0}),
        ),
        (
            &web,
            "Make the settings page keyboard accessible",
            json!({"step_delay_ms": 20}),
        ),
    ];
    let mut ids = Vec::new();
    for (project, goal, params) in done {
        ids.push(c.submit(project, goal, params).await);
    }
    for id in &ids {
        c.wait_run(id, &["COMPLETED", "FAILED"]).await;
    }
    let running = c
        .submit(
            &web,
            "Split the dashboard bundle by route",
            json!({"step_delay_ms": 4000}),
        )
        .await;
    c.wait_run(&running, &["RUNNING"]).await;
    let cancelled = c
        .submit(
            &llm_project,
            "Rename the config loader",
            json!({"step_delay_ms": 20000}),
        )
        .await;
    c.api
        .post(&format!("/v1/runs/{cancelled}/cancel"), json!({}))
        .await;
    c.wait_run(&cancelled, &["CANCELLED"]).await;
    let b = &c.browser;

    b.goto("/ui/").await;
    b.wait_for_text("#runs-body", "Split the dashboard bundle")
        .await;
    b.wait_for_text("#runs-body", "RUNNING").await;
    shoot(b, "runs", LAPTOP).await;

    b.goto(&format!("/ui/runs/{}", r.run_id)).await;
    b.wait_for("#diff .diff-file").await;
    b.wait_for("#timeline [data-kind=\"AWAITING_APPROVAL\"]")
        .await;
    shoot(b, "run-llm", LAPTOP).await;
    b.eval("document.querySelector('#diff-card').scrollIntoView();")
        .await;
    shoot(b, "run-llm-diff", LAPTOP).await;
    b.eval("document.querySelector('#timeline-card').scrollIntoView();")
        .await;
    shoot(b, "run-llm-timeline", LAPTOP).await;

    b.goto(&format!("/ui/runs/{running}")).await;
    b.wait_for("#timeline [data-kind=\"AGENT_THINKING\"]").await;
    shoot(b, "run-simulated", LAPTOP).await;

    b.goto("/ui/submit").await;
    b.wait_for_text("#field-project_id", "web-frontend").await;
    b.select("#field-project_id", &web).await;
    b.fill("#field-goal", "Bump the TypeScript target").await;
    b.fill("#field-params", "{\"step_delay_ms\": 200}").await;
    b.fill("#field-timeout_s", "9999").await;
    b.click("#submit-run").await;
    b.wait_for_text("#error-timeout_s", "timeout_s must be at most")
        .await;
    shoot(b, "submit-422", LAPTOP).await;

    b.goto("/ui/overview").await;
    b.wait_for("#throughput-chart svg rect").await;
    b.wait_for("#latency-chart svg path").await;
    shoot(b, "overview", LAPTOP).await;

    b.goto("/ui/workers").await;
    b.wait_for_text("#workers-body", &r.worker.id).await;
    shoot(b, "workers", LAPTOP).await;

    b.goto("/ui/projects").await;
    b.wait_for_text("#project-list", "billing-service").await;
    shoot(b, "projects", LAPTOP).await;

    b.resize(PHONE).await;
    b.goto("/ui/").await;
    b.wait_for_text("#runs-body", "Split the dashboard bundle")
        .await;
    shoot(b, "runs-phone", PHONE).await;
    b.goto(&format!("/ui/runs/{}", r.run_id)).await;
    b.wait_for("#diff .diff-file").await;
    shoot(b, "run-phone", PHONE).await;

    b.resize(LAPTOP).await;
    b.click("#sign-out").await;
    b.wait_for("#signin-form").await;
    shoot(b, "signin", LAPTOP).await;

    c.api
        .post(&format!("/v1/runs/{running}/cancel"), json!({}))
        .await;
    r.finish().await;
}

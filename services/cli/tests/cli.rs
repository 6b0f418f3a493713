//! The `agent-runner` binary run as a subprocess against a scripted fake api
//! (see `support`): what it prints and, above all, how it exits.

mod support;

use serde_json::{Value, json};
use std::process::{Output, Stdio};
use support::{FakeApi, PROJECT_ID, RUN_ID, Scenario, TOKEN};

/// Runs the binary against `url` with the fake's token, no colours, no stdin.
async fn agent_runner(url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_agent-runner"))
        .args(args)
        .env("AGENT_RUNNER_URL", url)
        .env("AGENT_RUNNER_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The event kinds of the timeline lines (`#seq  time  KIND  …`), in order.
fn timeline_kinds(output: &Output) -> Vec<String> {
    stdout(output)
        .lines()
        .filter(|line| line.starts_with('#'))
        .filter_map(|line| line.split_whitespace().nth(2).map(str::to_owned))
        .collect()
}

async fn submit_and_watch(api: &FakeApi) -> Output {
    agent_runner(
        &api.url,
        &[
            "submit",
            "--project",
            "demo",
            "--goal",
            "add a README",
            "--watch",
        ],
    )
    .await
}

const STEPS: [&str; 5] = [
    "RUN_CREATED",
    "RUN_STARTED",
    "AGENT_THINKING",
    "PLAN_GENERATED",
    "EXECUTING",
];

fn expected_kinds(last: &str) -> Vec<String> {
    STEPS
        .iter()
        .copied()
        .chain([last])
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn submit_watch_on_a_run_that_completes_lists_its_six_events_in_order_and_exits_0() {
    let api = support::spawn(Scenario::Completes).await;
    let output = submit_and_watch(&api).await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(timeline_kinds(&output), expected_kinds("RUN_COMPLETED"));
    let text = stdout(&output);
    assert!(text.contains(&format!("run {RUN_ID} submitted")), "{text}");
    assert!(
        text.contains("plan: understand the goal; make the change; verify"),
        "{text}"
    );
    assert!(text.contains(&format!("run {RUN_ID} COMPLETED")), "{text}");
}

#[tokio::test]
async fn submit_watch_on_a_run_that_fails_exits_1_with_the_error() {
    let api = support::spawn(Scenario::Fails).await;
    let output = submit_and_watch(&api).await;
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    assert_eq!(timeline_kinds(&output), expected_kinds("RUN_FAILED"));
    assert!(
        stdout(&output).contains("simulated fatal failure"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test]
async fn a_run_awaiting_approval_exits_0_with_a_note_on_how_to_approve_it() {
    let api = support::spawn(Scenario::AwaitsApproval).await;
    let output = agent_runner(&api.url, &["watch", RUN_ID]).await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(timeline_kinds(&output), expected_kinds("AWAITING_APPROVAL"));
    assert!(stderr(&output).contains(&format!("awaiting approval: agent-runner approve {RUN_ID}")));
}

#[tokio::test]
async fn a_dropped_stream_resumes_from_the_last_event_id_without_repeating_events() {
    let api = support::spawn(Scenario::DropsOnce).await;
    let output = agent_runner(&api.url, &["watch", RUN_ID]).await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(timeline_kinds(&output), expected_kinds("RUN_COMPLETED"));
    let seen = api.seen.lock().expect("lock");
    assert_eq!(seen.last_event_ids, vec![None, Some("3".to_owned())]);
}

#[tokio::test]
async fn an_api_without_the_stream_is_polled_instead() {
    let api = support::spawn(Scenario::NoStream).await;
    let output = agent_runner(&api.url, &["watch", RUN_ID]).await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(timeline_kinds(&output), expected_kinds("RUN_COMPLETED"));
}

#[tokio::test]
async fn watch_json_prints_only_the_final_run_as_one_document() {
    let api = support::spawn(Scenario::Fails).await;
    let output = agent_runner(&api.url, &["--json", "watch", RUN_ID]).await;
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    let run: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(run["status"], "FAILED");
}

#[tokio::test]
async fn a_rejected_token_exits_4_with_the_api_code_and_message() {
    let api = support::spawn(Scenario::Completes).await;
    let output = agent_runner(&api.url, &["--token", "wrong", "runs", "list"]).await;
    assert_eq!(output.status.code(), Some(4));
    let err = stderr(&output);
    assert!(
        err.contains("unauthorized: a valid bearer token is required"),
        "{err}"
    );
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn an_unreachable_api_exits_5_naming_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    drop(listener);
    let output = agent_runner(&url, &["submit", "-p", "demo", "-g", "x", "--watch"]).await;
    assert_eq!(output.status.code(), Some(5));
    let err = stderr(&output);
    assert!(
        err.contains(&format!("cannot reach the agent-runner api at {url}")),
        "{err}"
    );
}

#[tokio::test]
async fn submit_resolves_the_project_name_and_types_the_params() {
    let api = support::spawn(Scenario::Completes).await;
    let args = [
        "submit",
        "--project",
        "demo",
        "--goal",
        "add a README",
        "--params-json",
        r#"{"fail_attempts": 1, "step_delay_ms": 500}"#,
        "--param",
        "step_delay_ms=0",
        "--param",
        "flag=true",
        "--param",
        "mode=fast",
        "--max-attempts",
        "2",
        "--idempotency-key",
        "k-1",
        "--json",
    ];
    let output = agent_runner(&api.url, &args).await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let run: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(run["id"], RUN_ID);
    let seen = api.seen.lock().expect("lock");
    let (body, key) = &seen.submissions[0];
    assert_eq!(body["project_id"], PROJECT_ID);
    assert_eq!(
        body["params"],
        json!({"fail_attempts": 1, "step_delay_ms": 0, "flag": true, "mode": "fast"})
    );
    assert_eq!(body["max_attempts"], 2);
    assert_eq!(key.as_deref(), Some("k-1"));
}

#[tokio::test]
async fn an_unknown_project_name_exits_4() {
    let api = support::spawn(Scenario::Completes).await;
    let output = agent_runner(&api.url, &["submit", "-p", "nope", "-g", "x"]).await;
    assert_eq!(output.status.code(), Some(4));
    assert!(
        stderr(&output).contains("no project named `nope`"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn runs_list_all_follows_the_cursors_into_one_document() {
    let api = support::spawn(Scenario::Completes).await;
    let output = agent_runner(&api.url, &["--json", "runs", "list", "--all"]).await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let page: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["next_cursor"], Value::Null);

    let human = agent_runner(&api.url, &["runs", "list"]).await;
    assert!(stdout(&human).starts_with("ID"), "{}", stdout(&human));
    assert!(
        stderr(&human).contains("--cursor page-2"),
        "{}",
        stderr(&human)
    );
}

#[tokio::test]
async fn a_malformed_run_id_is_a_usage_error() {
    let output = agent_runner("http://127.0.0.1:9", &["watch", "not-a-uuid"]).await;
    assert_eq!(output.status.code(), Some(2));
}

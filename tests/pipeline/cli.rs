//! The `agent-runner` CLI end to end against a real api and worker.

use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle, binary};
use std::process::Output;

async fn cli(api: &ApiHandle, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(binary("agent-runner"));
    command
        .args(args)
        .env("AGENT_RUNNER_URL", &api.base_url)
        .env("AGENT_RUNNER_TOKEN", &api.token)
        .env("NO_COLOR", "1");
    command.output().await.expect("the cli runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submit_watch_exits_0_on_completed_and_1_on_failed() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let added = cli(&api, &["projects", "add", "cli-demo"]).await;
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    let ok = cli(
        &api,
        &[
            "submit",
            "--project",
            "cli-demo",
            "--goal",
            "g",
            "--param",
            "step_delay_ms=50",
            "--watch",
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let order = [
        "RUN_CREATED",
        "RUN_STARTED",
        "AGENT_THINKING",
        "PLAN_GENERATED",
        "EXECUTING",
        "RUN_COMPLETED",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| stdout.find(k).unwrap_or(usize::MAX))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]) && positions[5] != usize::MAX,
        "{stdout}"
    );

    let failed = cli(
        &api,
        &[
            "submit",
            "--project",
            "cli-demo",
            "--goal",
            "g",
            "--max-attempts",
            "1",
            "--param",
            "step_delay_ms=0",
            "--param",
            "fail=fatal",
            "--watch",
        ],
    )
    .await;
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&failed.stdout)
    );

    let listed = cli(&api, &["--json", "runs", "list"]).await;
    assert!(listed.status.success());
    let body: serde_json::Value =
        serde_json::from_slice(&listed.stdout).expect("--json prints JSON");
    assert_eq!(body["runs"].as_array().map(Vec::len), Some(2));
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_token_exits_4_with_the_api_message() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let output = tokio::process::Command::new(binary("agent-runner"))
        .args(["runs", "list"])
        .env("AGENT_RUNNER_URL", &api.base_url)
        .env("AGENT_RUNNER_TOKEN", "art_wrong")
        .output()
        .await
        .expect("the cli runs");
    assert_eq!(output.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unauthorized"));
    api.stop().await;
}

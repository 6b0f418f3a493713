//! The `agent-runner-worker` binary's start-up contract.

use std::process::Command;

#[test]
fn a_malformed_setting_stops_start_up_with_exit_2_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_agent-runner-worker"))
        .env("WORKER_CONCURRENCY", "lots")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("WORKER_CONCURRENCY"), "{stderr}");
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let output = Command::new(env!("CARGO_BIN_EXE_agent-runner-worker"))
        .arg("healthcheck")
        .env("WORKER_METRICS_ADDR", "127.0.0.1:1")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(1));
}

//! The `agent-runner-api` binary's start-up contract.

use std::process::Command;

#[test]
fn a_malformed_setting_stops_start_up_with_exit_2_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_agent-runner-api"))
        .arg("serve")
        .env("API_ADDR", "not-an-address")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("API_ADDR"), "{stderr}");
}

//! The sandbox's modes: `AGENT_SANDBOX=off` runs commands unsandboxed and
//! says so; a sandbox that can not be set up fails the run closed.

use crate::fake_llm::{calls, finish};
use crate::helpers::{Harness, fatal_reason, tool_results};
use agent_runner_coding_agent::sandbox::SandboxMode;
use serde_json::json;

#[tokio::test]
async fn with_the_sandbox_off_commands_run_unsandboxed_and_the_run_says_so() {
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("note.txt"), "outside\n").expect("write");
    let cmd = format!("cat {}/note.txt", outside.path().display());
    let mut h = Harness::new(
        vec![
            calls(&[("c1", "run_command", json!({"cmd": cmd}))]),
            finish("c2", "Read it."),
        ],
        None,
    )
    .await;
    h.config.sandbox.mode = SandboxMode::Off;
    let (result, events) = h.execute(&h.run("Read outside")).await;
    result.expect("the run succeeds");
    assert_eq!(events.events()[0].1["sandbox"], json!({"mode": "off"}));
    let results = tool_results(&h.llm.bodies()[1]);
    assert!(results[0].1.contains("outside"), "{results:?}");
}

#[tokio::test]
async fn a_sandbox_that_can_not_be_set_up_fails_the_run_before_any_command() {
    let mut h = Harness::new(
        vec![
            calls(&[("c1", "run_command", json!({"cmd": "true"}))]),
            finish("c2", "Done."),
        ],
        None,
    )
    .await;
    h.config.sandbox.bwrap = Some("/nonexistent/bwrap".into());
    let (result, events) = h.execute(&h.run("Anything")).await;
    let reason = fatal_reason(result);
    assert!(
        reason.contains("sandbox is unavailable") && reason.contains("/nonexistent/bwrap"),
        "{reason}"
    );
    assert!(h.llm.bodies().is_empty(), "the model was asked");
    assert!(events.events().is_empty(), "the workspace was prepared");
}

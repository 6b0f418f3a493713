//! Limits (iterations, tokens, deadline, the project's git timeout),
//! cancellation and fencing.

use crate::fake_llm::{Scripted, calls};
use crate::helpers::{Harness, RecordingEvents, fatal_reason, pid_running, process_alive};
use agent_runner_agent::AgentError;
use agent_runner_test_fixtures::git_daemon::SilentRemote;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn the_iteration_limit_ends_the_run() {
    let h = Harness::new(vec![], Some(calls(&[("c", "list_files", json!({}))]))).await;
    let mut run = h.run("Look around forever");
    run.params = json!({"max_iterations": 3});
    let (result, _) = h.execute(&run).await;
    assert_eq!(fatal_reason(result), "iteration limit 3 reached");
    assert_eq!(h.llm.bodies().len(), 3);
}

#[tokio::test]
async fn the_token_budget_ends_the_run() {
    let h = Harness::new(vec![], Some(calls(&[("c", "list_files", json!({}))]))).await;
    let mut run = h.run("Look around forever");
    run.params = json!({"token_budget": 20});
    let (result, _) = h.execute(&run).await;
    let reason = fatal_reason(result);
    assert!(reason.starts_with("token budget 20 exhausted"), "{reason}");
    assert_eq!(h.llm.bodies().len(), 2, "15 tokens, then 30 ≥ 20");
}

#[tokio::test]
async fn the_run_deadline_interrupts_a_hanging_model_call_as_a_timeout() {
    let h = Harness::new(vec![], Some(Scripted::Hang)).await;
    let mut run = h.run("Do it");
    run.deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    let started = Instant::now();
    let (result, _) = h.execute(&run).await;
    assert!(fatal_reason(result).starts_with("timeout"));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn cancelling_during_a_long_command_kills_its_process_group_within_two_seconds() {
    let h = Harness::new(
        vec![calls(&[(
            "c1",
            "run_command",
            json!({"cmd": "sleep 29.4771 & wait", "timeout_s": 60}),
        )])],
        None,
    )
    .await;
    let run = h.run("Wait a long time");
    let cancel = CancellationToken::new();
    let events = RecordingEvents::default();
    let execution = h.execute_with(&run, &events, cancel.clone());
    // Found by its arguments: inside its PID namespace the command does
    // not know its pid on the worker.
    let canceller = async {
        let pid = loop {
            if let Some(pid) = pid_running(&["sleep", "29.4771"]) {
                break pid;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(process_alive(pid), "the sleeper runs before the cancel");
        cancel.cancel();
        (pid, Instant::now())
    };
    let (result, (pid, cancelled_at)) = tokio::join!(execution, canceller);
    assert_eq!(result, Err(AgentError::Cancelled));
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(2),
        "took {:?}",
        cancelled_at.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(1);
    while process_alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!process_alive(pid), "the command's child {pid} is gone");
    assert!(
        !h.worktree(&run).exists(),
        "a cancelled run's worktree is removed"
    );
}

#[tokio::test]
async fn a_fenced_event_write_stops_the_attempt_and_leaves_the_worktree_alone() {
    let h = Harness::new(vec![], Some(calls(&[("c", "list_files", json!({}))]))).await;
    let run = h.run("Look around");
    let events = RecordingEvents::fencing_after(3);
    let result = h
        .execute_with(&run, &events, CancellationToken::new())
        .await;
    assert_eq!(result, Err(AgentError::Fenced));
    assert!(h.worktree(&run).exists(), "a newer attempt may be using it");
}

#[tokio::test]
async fn a_repository_that_never_answers_fails_the_run_after_the_projects_git_timeout() {
    let silent = SilentRemote::start().await;
    let mut h = Harness::new(vec![], None).await;
    h.project.repo_url = Some(silent.url());
    h.project.settings = json!({"git_timeout_s": 1});
    let began = Instant::now();
    let (result, _) = h.execute(&h.run("Fix the answer")).await;
    let reason = fatal_reason(result);
    assert!(
        reason.contains(&format!("could not clone {}", silent.url()))
            && reason.contains("no answer from the remote within 1 s"),
        "{reason}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "the clone was not cut off: {:?}",
        began.elapsed()
    );
    assert!(h.llm.bodies().is_empty(), "the model is never asked");

    h.project.settings = json!({"git_timeout_s": "soon"});
    let (result, _) = h.execute(&h.run("Fix the answer")).await;
    let reason = fatal_reason(result);
    assert!(
        reason.contains("settings.git_timeout_s must be a whole number of seconds"),
        "{reason}"
    );
}

//! `llm` runs that edit and finish, fail fast without a model, and continue
//! with follow-up messages.

use super::{ENDED, Setup, changelog_in_two_steps, fix_the_answer};
use agent_runner_test_fixtures::fake_llm::FakeLlm;
use agent_runner_test_fixtures::git_repo::git;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_llm_run_edits_a_file_completes_and_serves_its_diff_and_branch() {
    let s = Setup::new(fix_the_answer(), json!({})).await;
    let id = s.submit("Fix the answer").await;
    let run = s.wait(&id, &ENDED).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");

    let (status, diff) = s.api.get(&format!("/v1/runs/{id}/diff")).await;
    assert_eq!(status, 200, "{diff}");
    let text = diff["diff"].as_str().expect("diff");
    assert!(
        text.contains("-    41") && text.contains("+    42"),
        "{text}"
    );
    assert_eq!(diff["files_changed"], 1);
    let branch = diff["branch"].as_str().expect("branch");
    assert!(branch.starts_with(&format!("agent/{}", &id.replace('-', "")[..8])));
    assert_eq!(
        git(&s.mirror(), &["show", &format!("{branch}:src/lib.rs")]),
        "pub fn answer() -> u32 {\n    42\n}"
    );
    let kinds = s.api.kinds(&id).await;
    for kind in [
        "WORKSPACE_READY",
        "TOOL_CALLED",
        "TOOL_RESULT",
        "DIFF_READY",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds.last().map(String::as_str), Some("RUN_COMPLETED"));

    // Only a run awaiting approval can be reviewed; nothing changes.
    for action in ["approve", "reject"] {
        let (status, body) = s
            .api
            .post(&format!("/v1/runs/{id}/{action}"), json!({}))
            .await;
        assert_eq!(status, 409, "{action}: {body}");
        assert_eq!(body["error"]["code"], "conflict");
    }
    let (_, run) = s.api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "COMPLETED");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follow_up_message_continues_the_run_on_its_branch_with_the_conversation() {
    let s = Setup::new(changelog_in_two_steps(), json!({})).await;
    let id = s.submit("Start a changelog").await;
    let first = s.wait(&id, &ENDED).await;
    assert_eq!(first["status"], "COMPLETED", "{first}");

    let path = format!("/v1/runs/{id}/messages");
    let (status, _) = s.api.post(&path, json!({"message": " \n"})).await;
    assert_eq!(status, 422, "an empty message");
    let (status, _) = s
        .api
        .post(&path, json!({"message": "x".repeat(10 * 1024 + 1)}))
        .await;
    assert_eq!(status, 422, "an oversized message");

    let (status, run) = s
        .api
        .post(&path, json!({"message": "Add a second entry"}))
        .await;
    assert_eq!(status, 202, "{run}");
    assert_eq!(run["status"], "QUEUED");
    let (status, _) = s.api.post(&path, json!({"message": "again"})).await;
    assert_eq!(status, 409, "a queued run takes no message");

    // The run was QUEUED when the message was accepted, so the next ending
    // seen is the second attempt's.
    let second = s.wait(&id, &ENDED).await;
    assert_eq!(second["status"], "COMPLETED", "{second}");
    assert_eq!(second["attempt"], 2);
    assert_eq!(second["result"]["branch"], first["result"]["branch"]);
    assert_eq!(second["result"]["messages_handled"], 1);

    let bodies = s.llm.bodies();
    assert_eq!(bodies.len(), 4);
    let messages = bodies[2]["messages"].as_array().expect("messages");
    assert!(
        messages.iter().any(|m| m["tool_call_id"] == "a1"),
        "the previous conversation is sent again"
    );
    let last = messages.last().expect("a message");
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"], "Add a second entry");

    let branch = second["result"]["branch"].as_str().expect("branch");
    assert_eq!(
        git(&s.mirror(), &["show", &format!("{branch}:CHANGELOG.md")]),
        "- first\n- second"
    );
    let (_, diff) = s.api.get(&format!("/v1/runs/{id}/diff")).await;
    assert!(
        diff["diff"]
            .as_str()
            .is_some_and(|d| d.contains("+- first\n+- second")),
        "{diff}"
    );
    let kinds = s.api.kinds(&id).await;
    let posted = kinds
        .iter()
        .position(|k| k == "MESSAGE_POSTED")
        .expect("posted");
    assert!(
        kinds[posted..].iter().any(|k| k == "RUN_STARTED"),
        "{kinds:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_llm_run_fails_fast_with_a_clear_reason_when_no_endpoint_answers() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let llm = FakeLlm::start(vec![], None).await;
    let s = Setup::with_endpoint(
        llm,
        &format!("http://127.0.0.1:{closed}/v1"),
        json!({}),
        &[],
    )
    .await;
    let started = std::time::Instant::now();
    let id = s.submit("Fix the answer").await;
    let run = s.api.wait_for(&id, &ENDED, Duration::from_secs(20)).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    let error = run["error"].as_str().unwrap_or_default();
    assert!(error.contains("unreachable"), "{error}");
    assert!(error.contains(&closed.to_string()), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(s.llm.bodies().is_empty());
    s.stop().await;
}

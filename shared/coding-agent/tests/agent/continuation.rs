//! Follow-ups continue a run on its branch; parallel runs stay apart.

use crate::fake_llm::{Scripted, calls, changelog_in_two_steps, finish};
use crate::helpers::{Harness, git};
use serde_json::json;

#[tokio::test]
async fn a_follow_up_continues_on_the_same_branch_with_the_previous_conversation() {
    let h = Harness::new(changelog_in_two_steps(), None).await;
    let mut run = h.run("Start a changelog");
    let (first, _) = h.execute(&run).await;
    let first = first.expect("the first run succeeds").result;

    run.attempt = 1;
    run.messages = vec!["Add a second entry".to_owned()];
    run.previous_result = Some(first.clone());
    let (second, events) = h.execute(&run).await;
    let second = second.expect("the follow-up succeeds").result;

    assert_eq!(second["branch"], first["branch"]);
    assert_eq!(
        second["start_commit"], first["start_commit"],
        "the diff covers the whole run"
    );
    let head = second["head_commit"].as_str().expect("head");
    assert_eq!(
        git(&h.mirror(), &["rev-parse", &format!("{head}^")]),
        first["head_commit"].as_str().expect("head")
    );
    let diff = second["diff"].as_str().expect("diff");
    assert!(diff.contains("+- first\n+- second"), "{diff}");
    assert_eq!(events.events()[0].1["worktree"], "reattached");

    // The follow-up's first request carries the earlier conversation, then the message.
    let bodies = h.llm.bodies();
    let messages = bodies[2]["messages"].as_array().expect("messages");
    assert!(
        messages.iter().any(|m| m["tool_call_id"] == "a1"),
        "earlier tool results are kept"
    );
    let last = messages.last().expect("message");
    assert_eq!(
        (last["role"].as_str(), last["content"].as_str()),
        (Some("user"), Some("Add a second entry"))
    );
    assert_eq!(second["messages_handled"], 1);
}

#[tokio::test]
async fn two_runs_of_one_project_in_parallel_get_separate_worktrees_and_branches() {
    let reply: Scripted = calls(&[
        (
            "w",
            "write_file",
            json!({"path": "note.txt", "content": "note\n"}),
        ),
        ("f", "finish", json!({"summary": "Wrote a note."})),
    ]);
    let h = Harness::new(vec![], Some(reply)).await;
    let (run_a, run_b) = (h.run("Write a note"), h.run("Write a note"));
    let ((a, _), (b, _)) = tokio::join!(h.execute(&run_a), h.execute(&run_b));
    let (a, b) = (a.expect("run a").result, b.expect("run b").result);
    assert_ne!(a["branch"], b["branch"]);
    assert_ne!(a["head_commit"], b["head_commit"]);
    for result in [&a, &b] {
        let branch = result["branch"].as_str().expect("branch");
        assert_eq!(
            git(&h.mirror(), &["show", &format!("{branch}:note.txt")]),
            "note"
        );
        assert_eq!(result["files_changed"], 1);
    }
}

#[tokio::test]
async fn a_follow_up_to_a_run_awaiting_approval_reuses_its_kept_worktree() {
    let mut h = Harness::new(
        vec![
            calls(&[(
                "a1",
                "write_file",
                json!({"path": "a.txt", "content": "a\n"}),
            )]),
            finish("a2", "Wrote a."),
            calls(&[(
                "b1",
                "write_file",
                json!({"path": "b.txt", "content": "b\n"}),
            )]),
            finish("b2", "Wrote b."),
        ],
        None,
    )
    .await;
    h.project.settings = json!({"require_approval": true});
    let mut run = h.run("Write files");
    let (first, _) = h.execute(&run).await;
    let first = first.expect("the first run succeeds").result;
    std::fs::write(h.worktree(&run).join("stray.txt"), "left by a reviewer\n").expect("write");

    run.messages = vec!["Also write b".to_owned()];
    run.previous_result = Some(first);
    let (second, events) = h.execute(&run).await;
    let second = second.expect("the follow-up succeeds");
    assert!(second.awaiting_approval);
    assert_eq!(events.events()[0].1["worktree"], "reused");
    assert_eq!(
        second.result["files_changed"], 2,
        "a.txt and b.txt; the stray file was cleaned"
    );
}

#[tokio::test]
async fn a_retry_after_a_transient_failure_starts_again_on_the_same_branch() {
    let h = Harness::new(
        vec![
            calls(&[(
                "a1",
                "write_file",
                json!({"path": "half.txt", "content": "half\n"}),
            )]),
            Scripted::Status(503, None),
            Scripted::Status(503, None),
            Scripted::Status(503, None),
            Scripted::Status(503, None),
            calls(&[(
                "b1",
                "write_file",
                json!({"path": "whole.txt", "content": "whole\n"}),
            )]),
            finish("b2", "Done."),
        ],
        None,
    )
    .await;
    let mut run = h.run("Write a file");
    let (first, _) = h.execute(&run).await;
    assert!(
        matches!(first, Err(agent_runner_agent::AgentError::Transient(_))),
        "{first:?}"
    );

    run.attempt = 2;
    let (second, events) = h.execute(&run).await;
    let second = second.expect("the retry succeeds").result;
    assert_eq!(events.events()[0].1["worktree"], "reattached");
    let diff = second["diff"].as_str().expect("diff");
    assert!(
        diff.contains("whole.txt") && !diff.contains("half.txt"),
        "{diff}"
    );
}

//! The tools stay inside the worktree.

use crate::fake_llm::{calls, finish};
use crate::helpers::{Harness, assert_every_tool_call_answered_once, git, tool_results};
use serde_json::json;

#[tokio::test]
async fn paths_escaping_the_worktree_or_touching_git_are_refused() {
    let h = Harness::new(
        vec![
            calls(&[
                ("c1", "read_file", json!({"path": "../README.md"})),
                ("c2", "read_file", json!({"path": "/etc/hostname"})),
                ("c3", "read_file", json!({"path": "escape/secret.txt"})),
                (
                    "c4",
                    "write_file",
                    json!({"path": "escape/planted.txt", "content": "x"}),
                ),
                (
                    "c5",
                    "write_file",
                    json!({"path": ".git/config", "content": "x"}),
                ),
                ("c6", "read_file", json!({"path": ".git"})),
                ("c7", "list_files", json!({"path": "escape"})),
            ]),
            finish("c8", "Tried."),
        ],
        None,
    )
    .await;
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("secret.txt"), "secret\n").expect("write");
    std::os::unix::fs::symlink(outside.path(), h.origin.path().join("escape")).expect("symlink");
    git(h.origin.path(), &["add", "escape"]);
    git(
        h.origin.path(),
        &["commit", "--quiet", "-m", "add a symlink leading outside"],
    );

    let (result, _) = h.execute(&h.run("Escape")).await;
    let outcome = result.expect("refusals do not end the run");

    let body = &h.llm.bodies()[1];
    assert_every_tool_call_answered_once(body);
    let results = tool_results(body);
    let expect = [
        ("c1", "contains `..`"),
        ("c2", "is absolute"),
        ("c3", "resolves outside the worktree"),
        ("c4", "resolves outside the worktree"),
        ("c5", "inside .git"),
        ("c6", "inside .git"),
        ("c7", "resolves outside the worktree"),
    ];
    for ((id, content), (want_id, want)) in results.iter().zip(expect) {
        assert_eq!(id, want_id);
        assert!(
            content.starts_with("error: ") && content.contains(want),
            "{id}: {content}"
        );
    }
    assert!(!outside.path().join("planted.txt").exists());
    assert_eq!(outcome.result["files_changed"], 0);
}

//! A run that edits a file and finishes.

use crate::fake_llm::{USAGE, calls, calls_with_text, finish};
use crate::helpers::{
    Harness, assert_every_tool_call_answered_once, git, ref_exists, tool_results,
};
use agent_runner_domain::EventKind;
use serde_json::json;

#[tokio::test]
async fn a_run_that_edits_a_file_commits_it_on_its_branch_and_reports_the_diff() {
    let mut h = Harness::new(
        vec![
            calls_with_text(
                Some("I will read the README, then fix the greeting."),
                &[("call_1", "read_file", json!({"path": "README.md"}))],
            ),
            calls(&[(
                "call_2",
                "str_replace",
                json!({"path": "README.md", "old_str": "hello world", "new_str": "hello agent"}),
            )]),
            finish("call_3", "Changed the greeting in the README."),
        ],
        None,
    )
    .await;
    h.config.llm.api_key = Some("test-key".to_owned());
    let run = h.run("Change the greeting to hello agent");

    let (result, events) = h.execute(&run).await;
    let outcome = result.expect("the run succeeds");

    let r = &outcome.result;
    assert!(!outcome.awaiting_approval);
    assert_eq!(r["summary"], "Changed the greeting in the README.");
    let branch = r["branch"].as_str().expect("branch");
    assert_eq!(
        branch,
        format!(
            "agent/{}-change-the-greeting-to-hello-a",
            &run.id.simple().to_string()[..8]
        )
    );
    let diff = r["diff"].as_str().expect("diff");
    assert!(diff.contains("-hello world\n+hello agent"), "{diff}");
    assert_eq!(
        (
            r["files_changed"].as_u64(),
            r["insertions"].as_u64(),
            r["deletions"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert!(
        r["diffstat"]
            .as_str()
            .expect("diffstat")
            .contains("README.md")
    );
    assert_eq!(r["iterations"], 3);
    assert_eq!(
        r["usage"],
        json!({"prompt_tokens": 3 * USAGE.0, "completion_tokens": 3 * USAGE.1, "total_tokens": 3 * USAGE.2})
    );
    assert_eq!(r["model"], "test-model");
    assert!(r["conversation"].as_array().expect("conversation").len() >= 8);

    // The branch lives in the mirror, with the harness's commit on top of the start commit;
    // the project does not ask for it to be pushed.
    let mirror = h.mirror();
    assert!(ref_exists(&mirror, &format!("refs/heads/{branch}")));
    assert_eq!(r["push"], serde_json::Value::Null);
    assert!(!ref_exists(
        h.origin.path(),
        &format!("refs/heads/{branch}")
    ));
    let head = r["head_commit"].as_str().expect("head");
    assert_eq!(git(&mirror, &["rev-parse", branch]), head);
    assert_eq!(
        git(&mirror, &["rev-parse", &format!("{head}^")]),
        r["start_commit"].as_str().expect("start")
    );
    assert_eq!(
        git(&mirror, &["log", "-1", "--format=%an <%ae>", branch]),
        "agent-runner <agent-runner@localhost>"
    );
    assert!(
        !h.worktree(&run).exists(),
        "the worktree is removed after the run"
    );

    let kinds = events.kinds();
    use EventKind::*;
    assert_eq!(
        kinds,
        vec![
            WorkspaceReady,
            AgentThinking,
            PlanGenerated,
            ToolCalled,
            ToolResult,
            AgentThinking,
            ToolCalled,
            ToolResult,
            AgentThinking,
            ToolCalled,
            ToolResult,
            DiffReady
        ]
    );
    let all = events.events();
    assert_eq!(all[0].1["branch"], branch);
    assert_eq!(
        all[2].1["plan"],
        "I will read the README, then fix the greeting."
    );
    assert_eq!(
        all[3].1,
        json!({"id": "call_1", "name": "read_file", "arguments": {"path": "README.md"}})
    );
    assert_eq!(all[4].1["ok"], true);
    assert_eq!(all[11].1["files_changed"], 1);

    // What the agent sent: tools with the documented argument names, the key,
    // and results matching the call ids.
    let requests = h.llm.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some("Bearer test-key")
    );
    let first = &requests[0].body;
    assert_eq!(first["model"], "test-model");
    let tools = first["tools"].as_array().expect("tools");
    let schema = |name: &str| {
        tools
            .iter()
            .find(|t| t["function"]["name"] == name)
            .expect("tool")["function"]["parameters"]
            .clone()
    };
    let props = |name: &str| -> Vec<String> {
        let mut keys: Vec<String> = schema(name)["properties"]
            .as_object()
            .expect("props")
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(props("list_files"), ["path"]);
    assert_eq!(props("read_file"), ["end_line", "path", "start_line"]);
    assert_eq!(props("search_code"), ["query"]);
    assert_eq!(props("write_file"), ["content", "path"]);
    assert_eq!(props("str_replace"), ["new_str", "old_str", "path"]);
    assert_eq!(props("run_command"), ["cmd", "timeout_s"]);
    assert_eq!(props("finish"), ["summary"]);
    assert_eq!(props("give_up"), ["reason"]);
    assert_eq!(first["messages"][0]["role"], "system");
    assert_eq!(
        first["messages"][1]["content"],
        "Goal:\nChange the greeting to hello agent"
    );
    let third = &requests[2].body;
    assert_every_tool_call_answered_once(third);
    let results = tool_results(third);
    assert_eq!(results[0].0, "call_1");
    assert!(results[0].1.contains("3\thello world"), "{}", results[0].1);
    assert_eq!(
        results[1],
        (
            "call_2".to_owned(),
            "replaced 1 occurrence in `README.md`".to_owned()
        )
    );
}

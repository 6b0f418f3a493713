//! How the loop treats odd tool calls and replies.

use crate::fake_llm::{calls, calls_cut_off, finish, raw_call, text};
use crate::helpers::{Harness, assert_every_tool_call_answered_once, fatal_reason, tool_results};
use serde_json::json;

#[tokio::test]
async fn arguments_sent_as_a_json_object_are_accepted() {
    let h = Harness::new(
        vec![
            raw_call(
                "c1",
                "write_file",
                json!({"path": "docs/notes.md", "content": "notes\n"}),
            ),
            finish("c2", "Added notes."),
        ],
        None,
    )
    .await;
    let (result, _) = h.execute(&h.run("Add notes")).await;
    let outcome = result.expect("the run succeeds");
    let diff = outcome.result["diff"].as_str().expect("diff");
    assert!(
        diff.contains("+++ b/docs/notes.md") && diff.contains("+notes"),
        "{diff}"
    );
    let results = tool_results(&h.llm.bodies()[1]);
    assert_eq!(
        results,
        vec![(
            "c1".to_owned(),
            "created `docs/notes.md` (6 bytes)".to_owned()
        )]
    );
}

#[tokio::test]
async fn invalid_json_arguments_get_an_error_result_and_the_run_continues() {
    let h = Harness::new(
        vec![
            raw_call("c1", "read_file", json!("{\"path\": \"README.md\"")),
            finish("c2", "Done."),
        ],
        None,
    )
    .await;
    let (result, events) = h.execute(&h.run("Read the README")).await;
    result.expect("the run succeeds");
    let bodies = h.llm.bodies();
    assert_every_tool_call_answered_once(&bodies[1]);
    let results = tool_results(&bodies[1]);
    assert_eq!(results[0].0, "c1");
    assert!(
        results[0]
            .1
            .starts_with("error: the arguments of read_file are not valid JSON"),
        "{}",
        results[0].1
    );
    let tool_result = events
        .events()
        .into_iter()
        .find(|(k, _)| k.as_str() == "TOOL_RESULT")
        .expect("event");
    assert_eq!(tool_result.1["ok"], false);
}

#[tokio::test]
async fn an_unknown_tool_gets_an_error_result_naming_the_real_tools() {
    let h = Harness::new(
        vec![
            calls(&[("c1", "delete_everything", json!({}))]),
            finish("c2", "Done."),
        ],
        None,
    )
    .await;
    let (result, _) = h.execute(&h.run("Do something")).await;
    result.expect("the run succeeds");
    let results = tool_results(&h.llm.bodies()[1]);
    assert!(
        results[0].1.contains("unknown tool `delete_everything`"),
        "{}",
        results[0].1
    );
    assert!(results[0].1.contains("str_replace"), "{}", results[0].1);
}

#[tokio::test]
async fn a_text_only_reply_gets_a_nudge_and_a_second_one_fails_the_run() {
    let h = Harness::new(vec![text("Let me think."), text("Still thinking.")], None).await;
    let (result, _) = h.execute(&h.run("Do something")).await;
    let reason = fatal_reason(result);
    assert!(reason.contains("without calling a tool"), "{reason}");
    let bodies = h.llm.bodies();
    assert_eq!(bodies.len(), 2);
    let last = bodies[1]["messages"]
        .as_array()
        .expect("messages")
        .last()
        .cloned()
        .expect("message");
    assert_eq!(last["role"], "user");
    assert!(
        last["content"]
            .as_str()
            .expect("text")
            .contains("Call a tool"),
        "{last}"
    );
}

#[tokio::test]
async fn three_identical_failing_calls_in_a_row_stop_the_run() {
    let missing = calls(&[("c", "read_file", json!({"path": "missing.txt"}))]);
    let h = Harness::new(vec![], Some(missing)).await;
    let (result, _) = h.execute(&h.run("Read a file")).await;
    let reason = fatal_reason(result);
    assert!(
        reason.contains("3 identical failing calls to read_file"),
        "{reason}"
    );
    assert_eq!(h.llm.bodies().len(), 3);
}

#[tokio::test]
async fn give_up_fails_the_run_with_the_models_reason() {
    let h = Harness::new(
        vec![calls(&[(
            "c1",
            "give_up",
            json!({"reason": "the repository has no tests"}),
        )])],
        None,
    )
    .await;
    let run = h.run("Fix the tests");
    let (result, _) = h.execute(&run).await;
    assert_eq!(fatal_reason(result), "gave up: the repository has no tests");
    assert!(
        !h.worktree(&run).exists(),
        "a failed run's worktree is removed"
    );
}

#[tokio::test]
async fn calls_after_finish_in_the_same_reply_are_answered_but_not_run() {
    let h = Harness::new(
        vec![calls(&[
            ("c1", "finish", json!({"summary": "Nothing to do."})),
            (
                "c2",
                "write_file",
                json!({"path": "late.txt", "content": "x"}),
            ),
        ])],
        None,
    )
    .await;
    let (result, _) = h.execute(&h.run("Nothing")).await;
    let outcome = result.expect("the run succeeds");
    assert_eq!(outcome.result["files_changed"], 0);
    let conversation = json!({"messages": outcome.result["conversation"]});
    assert_every_tool_call_answered_once(&conversation);
}

#[tokio::test]
async fn a_reply_cut_off_at_the_output_limit_is_not_acted_on_and_is_counted() {
    let h = Harness::new(
        vec![
            calls_cut_off(&[(
                "c1",
                "write_file",
                json!({"path": "half.txt", "content": "the first half of"}),
            )]),
            finish("c2", "Nothing written."),
        ],
        None,
    )
    .await;
    let run = h.run("Write a long file");
    let (result, _) = h.execute(&run).await;
    let outcome = result.expect("the run goes on after a cut-off reply");
    assert_eq!(outcome.result["cut_off_replies"], 1);
    assert_eq!(
        outcome.result["files_changed"], 0,
        "the call was not executed"
    );
    let body = &h.llm.bodies()[1];
    assert_every_tool_call_answered_once(body);
    let results = tool_results(body);
    assert_eq!(results[0].0, "c1");
    assert!(
        results[0].1.contains("cut off at the model's output limit"),
        "{}",
        results[0].1
    );
}

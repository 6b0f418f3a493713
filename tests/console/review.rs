//! Reviewing an `llm` run driven by the scripted model: its summary,
//! conversation and diff per file, then Approve (merged) or Reject (through
//! the confirmation, branch deleted).

use crate::support::Review;
use agent_runner_store::access::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approving_an_llm_run_merges_it_after_showing_its_diff_per_file() {
    let r = Review::awaiting_approval(Role::Reviewer).await;
    let b = &r.console.browser;
    b.goto(&format!("/ui/runs/{}", r.run_id)).await;
    r.console.wait_page_status("AWAITING_APPROVAL").await;

    let file = b.wait_for_text("#diff .diff-file", "src/lib.rs").await;
    assert!(file.contains("+1") && file.contains("−1"), "{file}");
    assert_eq!(b.texts("#diff .diff-line.add .code").await, ["+    42"]);
    assert_eq!(b.texts("#diff .diff-line.del .code").await, ["−    41"]);
    b.wait_for_text("#llm-summary", "Fixed the answer.").await;
    b.wait_for_text("#llm-summary", "test-model").await;
    let conversation = b.text("#conversation").await;
    assert!(conversation.contains("str_replace"), "{conversation}");
    assert!(conversation.contains("Fix the answer"), "{conversation}");
    // A reviewer may not run commands in the worktree: no exec box.
    assert_eq!(b.count("#exec-form").await, 0);

    b.click("#action-approve").await;
    r.console.wait_page_status("COMPLETED").await;
    b.wait_for_text("#action-result", "merged into main").await;
    b.wait_for("#timeline [data-kind=\"RUN_COMPLETED\"]").await;
    let (_, run) = r.console.api.get(&format!("/v1/runs/{}", r.run_id)).await;
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["result"]["review"]["decision"], "approved");
    assert_eq!(b.count("#action-approve, #action-reject").await, 0);
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejecting_an_llm_run_through_the_confirmation_ends_it_rejected() {
    let r = Review::awaiting_approval(Role::Admin).await;
    let b = &r.console.browser;
    b.goto(&format!("/ui/runs/{}", r.run_id)).await;
    r.console.wait_page_status("AWAITING_APPROVAL").await;
    b.wait_for("#diff .diff-file").await;

    // An admin may run a command in the worktree while the run waits.
    b.fill("#exec-cmd", "grep -c 42 src/lib.rs").await;
    b.click("#exec-form button[type=submit]").await;
    b.wait_for_text("#exec-output", "exit code 0").await;
    assert_eq!(b.text("#exec-output .stdout").await.trim(), "1");

    b.click("#action-reject").await;
    b.wait_for("dialog[open]").await;
    b.confirm_dialog().await;
    r.console.wait_page_status("REJECTED").await;
    b.wait_for("#timeline [data-kind=\"RUN_REJECTED\"]").await;
    let (_, run) = r.console.api.get(&format!("/v1/runs/{}", r.run_id)).await;
    assert_eq!(run["status"], "REJECTED");
    r.finish().await;
}

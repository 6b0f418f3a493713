//! Reviewing an `llm` run driven by the scripted model: its summary,
//! conversation and diff per file, then Approve (merged), Approve… keeping
//! the branch unpushed, or Reject (through the confirmation, branch deleted).

use crate::support::Review;
use agent_runner_store::access::Role;
use agent_runner_test_fixtures::git_repo::git;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_with_options_keeps_the_branch_unpushed_and_says_so() {
    let r = Review::awaiting_approval(Role::Reviewer).await;
    let b = &r.console.browser;
    let (_, waiting) = r.console.api.get(&format!("/v1/runs/{}", r.run_id)).await;
    let branch = waiting["result"]["branch"]
        .as_str()
        .expect("branch")
        .to_owned();
    b.goto(&format!("/ui/runs/{}", r.run_id)).await;
    r.console.wait_page_status("AWAITING_APPROVAL").await;

    // The dialog names the branch and what a plain Approve would do;
    // dismissed, nothing happens.
    b.click("#action-approve-options").await;
    let dialog = b.wait_for_text("dialog[open]", "merge into main").await;
    assert!(dialog.contains(&branch), "{dialog}");
    assert_eq!(
        b.eval("return document.querySelector('#approve-default').checked;")
            .await,
        true
    );
    b.dismiss_dialog().await;
    let (_, still) = r.console.api.get(&format!("/v1/runs/{}", r.run_id)).await;
    assert_eq!(still["status"], "AWAITING_APPROVAL");

    // Merging into another branch needs its name.
    b.click("#action-approve-options").await;
    b.click("#approve-merge").await;
    b.click("dialog[open] .dialog-confirm").await;
    b.wait_for_text("dialog[open] .dialog-problem", "Name the branch")
        .await;

    b.click("#approve-keep").await;
    b.wait_gone("dialog[open] .dialog-problem:not([hidden])")
        .await;
    b.click("#approve-push").await;
    assert_eq!(
        b.eval("return document.querySelector('#approve-push').checked;")
            .await,
        false
    );
    b.confirm_dialog().await;
    r.console.wait_page_status("COMPLETED").await;
    b.wait_for_text(
        "#action-result",
        &format!("Approved: branch {branch} kept, not pushed."),
    )
    .await;
    b.wait_for_text("#llm-review", "kept, not pushed").await;
    b.wait_for_text("#llm-summary", &branch).await;
    b.wait_for("#timeline [data-kind=\"RUN_COMPLETED\"]").await;

    let (_, run) = r.console.api.get(&format!("/v1/runs/{}", r.run_id)).await;
    assert_eq!(run["status"], "COMPLETED");
    let review = &run["result"]["review"];
    assert_eq!(review["decision"], "approved", "{review}");
    assert_eq!(review["branch"], branch.as_str());
    assert!(review["merged_into"].is_null(), "{review}");
    assert_eq!(review["pushed_to_origin"], false);
    // Neither merged nor pushed: the project's repository is as it was.
    assert_eq!(
        git(r.origin.path(), &["branch", "--list", &branch]),
        "",
        "the branch is not pushed"
    );
    assert!(
        git(r.origin.path(), &["show", "main:src/lib.rs"]).contains("41"),
        "main is not merged into"
    );
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_with_options_merges_into_the_branch_named_and_shows_a_refusal() {
    let r = Review::awaiting_approval(Role::Reviewer).await;
    let b = &r.console.browser;
    git(r.origin.path(), &["branch", "release"]);
    b.goto(&format!("/ui/runs/{}", r.run_id)).await;
    r.console.wait_page_status("AWAITING_APPROVAL").await;

    // A branch the repository does not have: the worker's reason is shown
    // and the run still awaits approval.
    b.click("#action-approve-options").await;
    b.click("#approve-merge").await;
    b.fill("#approve-into", "no-such-branch").await;
    b.confirm_dialog().await;
    b.wait_for_text("#action-result .notice-error", "no-such-branch")
        .await;
    let (_, still) = r.console.api.get(&format!("/v1/runs/{}", r.run_id)).await;
    assert_eq!(still["status"], "AWAITING_APPROVAL", "{still}");
    r.console.wait_page_status("AWAITING_APPROVAL").await;

    b.click("#action-approve-options").await;
    b.click("#approve-merge").await;
    b.fill("#approve-into", "release").await;
    b.confirm_dialog().await;
    r.console.wait_page_status("COMPLETED").await;
    b.wait_for_text("#action-result", "Approved: merged into release")
        .await;
    b.wait_for_text("#llm-review", "merged into release").await;
    let (_, run) = r.console.api.get(&format!("/v1/runs/{}", r.run_id)).await;
    assert_eq!(run["result"]["review"]["merged_into"], "release", "{run}");
    assert!(git(r.origin.path(), &["show", "release:src/lib.rs"]).contains("42"));
    assert!(
        git(r.origin.path(), &["show", "main:src/lib.rs"]).contains("41"),
        "the default branch is left alone"
    );
    r.finish().await;
}

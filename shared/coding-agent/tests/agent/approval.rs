//! The approval gate: approve merges and pushes, reject discards; commands
//! in a kept worktree.

use crate::fake_llm::fix_the_answer;
use crate::helpers::{Harness, git, origin_repo, ref_exists};
use agent_runner_agent::RunSpec;
use agent_runner_agent::StoredBranch;
use agent_runner_coding_agent::sandbox::Sandbox;
use agent_runner_coding_agent::{
    ApproveOutcome, ApproveTarget, ExecCommand, ReviewError, RunBranch, approve, exec_in_worktree,
    reject,
};
use agent_runner_test_fixtures::git_daemon::{GitDaemon, SilentRemote};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

async fn run_awaiting_approval() -> (Harness, RunSpec, serde_json::Value) {
    run_awaiting_approval_on(None).await
}

/// A run awaiting approval on a project whose repository is `repo_url`
/// (`None`: a directory on this machine).
async fn run_awaiting_approval_on(
    repo_url: Option<String>,
) -> (Harness, RunSpec, serde_json::Value) {
    let mut h = Harness::new(fix_the_answer(), None).await;
    h.project.settings = json!({"require_approval": true});
    if repo_url.is_some() {
        h.project.repo_url = repo_url;
    }
    let run = h.run("Fix the answer");
    let (result, _) = h.execute(&run).await;
    let outcome = result.expect("the run succeeds");
    assert!(outcome.awaiting_approval);
    assert!(
        h.worktree(&run).join("src/lib.rs").exists(),
        "the worktree is kept for review"
    );
    (h, run, outcome.result)
}

#[tokio::test]
async fn approving_merges_the_branch_into_the_target_and_pushes_it_to_a_local_origin() {
    let (h, run, result) = run_awaiting_approval().await;
    let branch = result["branch"].as_str().expect("branch");
    let recorded = RunBranch::from_result(Some(&result), StoredBranch::none());

    let out = exec_in_worktree(
        h.workspace.path(),
        &h.project,
        run.id,
        &recorded,
        ExecCommand {
            sandbox: &Sandbox::new(h.config.sandbox.clone()),
            cmd: "grep -c 42 src/lib.rs",
            timeout: Duration::from_secs(5),
            output_cap: 1024,
        },
        &CancellationToken::new(),
    )
    .await
    .expect("exec");
    assert_eq!((out.exit_code, out.stdout.as_str()), (Some(0), "1\n"));

    let target = ApproveTarget::Merge {
        into: "main".to_owned(),
    };
    let outcome = approve(
        h.workspace.path(),
        &h.project,
        run.id,
        &recorded,
        target.clone(),
    )
    .await
    .expect("approve");
    let merged = outcome.merged_commit.expect("a merge commit");
    assert!(outcome.pushed_to_origin);
    let mirror = h.mirror();
    assert_eq!(git(&mirror, &["rev-parse", "main"]), merged);
    assert_eq!(
        git(&mirror, &["show", "main:src/lib.rs"]),
        "pub fn answer() -> u32 {\n    42\n}"
    );
    // The origin's checked-out main (clean) was updated with its working tree.
    assert_eq!(git(h.origin.path(), &["rev-parse", "main"]), merged);
    let text = std::fs::read_to_string(h.origin.path().join("src/lib.rs")).expect("read");
    assert!(text.contains("42"), "{text}");
    assert!(ref_exists(h.origin.path(), &format!("refs/heads/{branch}")));
    assert!(!h.worktree(&run).exists());

    let again = approve(h.workspace.path(), &h.project, run.id, &recorded, target)
        .await
        .expect("approve");
    assert_eq!(
        again.merged_commit.as_deref(),
        Some(merged.as_str()),
        "approving twice is harmless"
    );
}

/// A run awaiting approval on a project served by a `git daemon` that
/// accepts pushes or not; with the run's branch name and what it recorded.
async fn remote_run_awaiting_approval(
    accept_pushes: bool,
) -> (GitDaemon, Harness, RunSpec, String, RunBranch) {
    let daemon = GitDaemon::serve(origin_repo().path(), accept_pushes).await;
    let (h, run, result) = run_awaiting_approval_on(Some(daemon.url())).await;
    let branch = result["branch"].as_str().expect("branch").to_owned();
    let recorded = RunBranch::from_result(Some(&result), StoredBranch::none());
    (daemon, h, run, branch, recorded)
}

/// Approves `run` with a merge into `main`.
async fn approve_into_main(
    h: &Harness,
    run: &RunSpec,
    recorded: &RunBranch,
) -> Result<ApproveOutcome, ReviewError> {
    let target = ApproveTarget::Merge {
        into: "main".to_owned(),
    };
    approve(h.workspace.path(), &h.project, run.id, recorded, target).await
}

#[tokio::test]
async fn approving_pushes_the_branch_and_the_merge_to_a_remote_repository() {
    let (daemon, h, run, branch, recorded) = remote_run_awaiting_approval(true).await;
    let before = git(&daemon.repo(), &["rev-parse", "main"]);

    let outcome = approve_into_main(&h, &run, &recorded)
        .await
        .expect("approve");
    let merged = outcome.merged_commit.expect("a merge commit");
    assert!(outcome.pushed_to_origin);
    let remote = daemon.repo();
    assert_eq!(git(&remote, &["rev-parse", "main"]), merged);
    assert_eq!(git(&remote, &["rev-parse", "main^1"]), before);
    assert_eq!(
        git(&remote, &["show", "main:src/lib.rs"]),
        "pub fn answer() -> u32 {\n    42\n}"
    );
    assert_eq!(
        git(&remote, &["rev-parse", &format!("refs/heads/{branch}")]),
        git(&h.mirror(), &["rev-parse", &format!("refs/heads/{branch}")])
    );
    // The next fetch finds the merge upstream: it stays in the mirror.
    let again = approve_into_main(&h, &run, &recorded)
        .await
        .expect("approve again");
    assert_eq!(again.merged_commit.as_deref(), Some(merged.as_str()));
    assert_eq!(git(&h.mirror(), &["rev-parse", "main"]), merged);
}

#[tokio::test]
async fn a_remote_that_refuses_the_push_fails_the_approval_and_changes_nothing() {
    let (daemon, h, run, branch, recorded) = remote_run_awaiting_approval(false).await;
    let remote_main = git(&daemon.repo(), &["rev-parse", "main"]);
    let mirror_main = git(&h.mirror(), &["rev-parse", "main"]);

    let err = approve_into_main(&h, &run, &recorded)
        .await
        .expect_err("the push is refused");
    assert!(
        matches!(&err, ReviewError::PushFailed { remote, .. } if *remote == daemon.url()),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("pushing to git://127.0.0.1"), "{text}");
    assert_eq!(git(&daemon.repo(), &["rev-parse", "main"]), remote_main);
    assert!(!ref_exists(&daemon.repo(), &format!("refs/heads/{branch}")));
    assert_eq!(
        git(&h.mirror(), &["rev-parse", "main"]),
        mirror_main,
        "the unpushed merge is taken back out of the mirror"
    );
    assert!(
        h.worktree(&run).join("src/lib.rs").exists(),
        "the worktree stays for another try"
    );

    let kept = approve(
        h.workspace.path(),
        &h.project,
        run.id,
        &recorded,
        ApproveTarget::Keep { push: false },
    )
    .await
    .expect("keeping without a push");
    assert_eq!(kept, Default::default());
    assert!(ref_exists(&h.mirror(), &format!("refs/heads/{branch}")));
    assert!(!ref_exists(&daemon.repo(), &format!("refs/heads/{branch}")));
}

#[tokio::test]
async fn a_remote_that_refuses_the_target_branch_gets_neither_it_nor_the_runs_branch() {
    let (daemon, h, run, branch, recorded) = remote_run_awaiting_approval(true).await;
    daemon.protect_branch("main");
    let remote_main = git(&daemon.repo(), &["rev-parse", "main"]);
    let mirror_main = git(&h.mirror(), &["rev-parse", "main"]);

    let err = approve_into_main(&h, &run, &recorded)
        .await
        .expect_err("main is protected");
    let text = err.to_string();
    assert!(
        matches!(err, ReviewError::PushFailed { .. }) && text.contains("main is protected"),
        "{text}"
    );
    assert_eq!(git(&daemon.repo(), &["rev-parse", "main"]), remote_main);
    assert!(
        !ref_exists(&daemon.repo(), &format!("refs/heads/{branch}")),
        "all or nothing: the run's branch was not pushed alone"
    );
    assert_eq!(git(&h.mirror(), &["rev-parse", "main"]), mirror_main);
}

#[tokio::test]
async fn a_remote_that_stops_answering_fails_the_approval_after_the_git_timeout() {
    let (_daemon, mut h, run, _, recorded) = remote_run_awaiting_approval(true).await;
    let silent = SilentRemote::start().await;
    h.project.repo_url = Some(silent.url());
    h.project.settings = json!({"require_approval": true, "git_timeout_s": 1});
    let mirror_main = git(&h.mirror(), &["rev-parse", "main"]);

    let began = Instant::now();
    let err = approve_into_main(&h, &run, &recorded)
        .await
        .expect_err("no answer");
    let text = err.to_string();
    assert!(
        matches!(err, ReviewError::PushFailed { .. })
            && text.contains("no answer from the remote within 1 s"),
        "{text}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "the fetch and the push were not cut off: {:?}",
        began.elapsed()
    );
    assert_eq!(git(&h.mirror(), &["rev-parse", "main"]), mirror_main);
}

#[tokio::test]
async fn rejecting_deletes_the_branch_and_the_worktree() {
    let (h, run, result) = run_awaiting_approval().await;
    let branch = result["branch"].as_str().expect("branch");
    let recorded = RunBranch::from_result(Some(&result), StoredBranch::none());
    let mirror = h.mirror();
    assert!(ref_exists(&mirror, &format!("refs/heads/{branch}")));

    reject(h.workspace.path(), &h.project, run.id, &recorded)
        .await
        .expect("reject");
    assert!(!ref_exists(&mirror, &format!("refs/heads/{branch}")));
    assert!(!h.worktree(&run).exists());
    assert_eq!(
        git(&mirror, &["show", "main:src/lib.rs"]),
        "pub fn answer() -> u32 {\n    41\n}"
    );
    reject(h.workspace.path(), &h.project, run.id, &recorded)
        .await
        .expect("rejecting twice is harmless");
    assert!(
        reject(
            h.workspace.path(),
            &h.project,
            run.id,
            &RunBranch {
                branch: Some("main".to_owned()),
                ..RunBranch::default()
            }
        )
        .await
        .is_err(),
        "only agent branches"
    );
}

//! A project row whose `repo_url` did not come through the api's checks
//! (written into the database directly, or older than them) meets the same
//! rules in the harness: a URL git could read as an option or that runs a
//! command is refused before the clone, before the fetch into an existing
//! mirror, and before an approval's or rejection's push; a repository on
//! this machine only with `AGENT_ALLOW_LOCAL_REPOS`. Nothing runs: the file
//! each URL would create never appears, and the origin is untouched. What
//! the run's error says names paths under `$WORKSPACE_ROOT`, not the
//! worker's disk.

use crate::fake_llm::fix_the_answer;
use crate::helpers::{Harness, fatal_reason, git};
use agent_runner_agent::StoredBranch;
use agent_runner_coding_agent::{ApproveTarget, RunBranch, approve, reject};
use agent_runner_test_fixtures::git_repo::hostile_urls;
use serde_json::json;

#[tokio::test]
async fn a_hostile_url_is_refused_before_the_clone_and_nothing_runs() {
    let mut h = Harness::new(Vec::new(), None).await;
    let dir = tempfile::tempdir().expect("dir");
    let marker = dir.path().join("ran");
    for url in hostile_urls(&marker.to_string_lossy()) {
        h.project.repo_url = Some(url.clone());
        let (result, _) = h.execute(&h.run("Fix the answer")).await;
        let reason = fatal_reason(result);
        assert!(reason.contains("repo_url"), "{url:?}: {reason}");
        assert!(!marker.exists(), "{url:?} ran a command");
        assert!(!h.mirror().exists(), "{url:?} made a mirror");
    }
    assert!(h.llm.requests().is_empty(), "no run reached the model");
}

#[tokio::test]
async fn with_the_mirror_made_a_hostile_url_is_refused_for_fetch_and_every_push() {
    let mut h = Harness::new(fix_the_answer(), None).await;
    h.project.settings = json!({"require_approval": true, "push_branches": true});
    let run = h.run("Fix the answer");
    let (result, _) = h.execute(&run).await;
    let outcome = result.expect("the run succeeds");
    assert!(outcome.awaiting_approval);
    assert!(h.mirror().join("HEAD").is_file());
    let recorded = RunBranch::from_result(Some(&outcome.result), StoredBranch::none());
    let origin_main = git(h.origin.path(), &["rev-parse", "main"]);

    let dir = tempfile::tempdir().expect("dir");
    let marker = dir.path().join("ran");
    for url in hostile_urls(&marker.to_string_lossy()) {
        h.project.repo_url = Some(url.clone());
        // A new run: its fetch and its branch push.
        let (result, _) = h.execute(&h.run("Fix the answer again")).await;
        let reason = fatal_reason(result);
        assert!(reason.contains("repo_url"), "{url:?}: {reason}");
        // The review's fetch and push, without the worker's own check first.
        let target = ApproveTarget::Merge {
            into: "main".to_owned(),
        };
        let approved = approve(h.workspace.path(), &h.project, run.id, &recorded, target).await;
        let err = approved.expect_err("approval refused").to_string();
        assert!(err.contains("repo_url"), "{url:?}: {err}");
        let rejected = reject(h.workspace.path(), &h.project, run.id, &recorded).await;
        let err = rejected.expect_err("rejection refused").to_string();
        assert!(err.contains("repo_url"), "{url:?}: {err}");
        assert!(!marker.exists(), "{url:?} ran a command");
    }
    assert_eq!(git(h.origin.path(), &["rev-parse", "main"]), origin_main);
    assert!(
        h.worktree(&run).exists(),
        "the refused review left the run as it was"
    );
}

#[tokio::test]
async fn a_repository_on_this_machine_needs_allow_local_repos() {
    let mut h = Harness::new(fix_the_answer(), None).await;
    h.config.allow_local_repos = false;
    let path = h.origin.path().to_string_lossy().into_owned();
    for url in [path.clone(), format!("file://{path}")] {
        h.project.repo_url = Some(url.clone());
        let (result, _) = h.execute(&h.run("Fix the answer")).await;
        let reason = fatal_reason(result);
        assert!(
            reason.contains("AGENT_ALLOW_LOCAL_REPOS"),
            "{url}: {reason}"
        );
        assert!(!h.mirror().exists(), "{url} was cloned");
    }
    h.config.allow_local_repos = true;
    h.project.repo_url = Some(path);
    let (result, _) = h.execute(&h.run("Fix the answer")).await;
    result.expect("allowed, the same repository works");
}

#[tokio::test]
async fn a_workspace_error_names_paths_under_workspace_root_not_the_disk() {
    let h = Harness::new(Vec::new(), None).await;
    // The mirrors directory can not be made: a file is in its place.
    std::fs::write(h.workspace.path().join("mirrors"), "").expect("write");
    let (result, _) = h.execute(&h.run("Fix the answer")).await;
    let reason = fatal_reason(result);
    assert!(reason.contains("$WORKSPACE_ROOT/mirrors"), "{reason}");
    let root = h.workspace.path().to_string_lossy().into_owned();
    assert!(!reason.contains(&root), "{reason}");
}

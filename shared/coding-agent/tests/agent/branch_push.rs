//! `settings.push_branches`: each successful attempt's branch is pushed to
//! the project's repository; a refused push is recorded, and the run still
//! succeeds; a rejection deletes the pushed branch there too.

use crate::fake_llm::fix_the_answer;
use crate::helpers::{Harness, RecordingEvents, fatal_reason, git, origin_repo, ref_exists};
use agent_runner_agent::StoredBranch;
use agent_runner_coding_agent::{RunBranch, reject};
use agent_runner_domain::EventKind;
use agent_runner_test_fixtures::git_daemon::GitDaemon;
use serde_json::{Value, json};

/// A harness on a project served by a `git daemon` that accepts pushes or
/// not, with `settings`.
async fn on_remote(accept_pushes: bool, settings: Value) -> (GitDaemon, Harness) {
    let daemon = GitDaemon::serve(origin_repo().path(), accept_pushes).await;
    let mut h = Harness::new(fix_the_answer(), None).await;
    h.project.repo_url = Some(daemon.url());
    h.project.settings = settings;
    (daemon, h)
}

fn diff_ready(events: &RecordingEvents) -> Value {
    events
        .events()
        .into_iter()
        .find(|(kind, _)| *kind == EventKind::DiffReady)
        .map(|(_, payload)| payload)
        .expect("DIFF_READY")
}

#[tokio::test]
async fn a_project_that_pushes_branches_has_each_runs_branch_in_its_repository() {
    let (daemon, h) = on_remote(true, json!({"push_branches": true})).await;
    let (result, events) = h.execute(&h.run("Fix the answer")).await;
    let outcome = result.expect("the run succeeds");
    let r = &outcome.result;
    assert_eq!(r["push"], json!({"pushed": true}));
    assert_eq!(diff_ready(&events)["push"], json!({"pushed": true}));
    let branch = r["branch"].as_str().expect("branch");
    assert_eq!(
        git(
            &daemon.repo(),
            &["rev-parse", &format!("refs/heads/{branch}")]
        ),
        r["head_commit"].as_str().expect("head")
    );
    assert_eq!(
        git(&daemon.repo(), &["show", &format!("{branch}:src/lib.rs")]),
        "pub fn answer() -> u32 {\n    42\n}"
    );
}

#[tokio::test]
async fn a_refused_branch_push_is_recorded_and_the_run_still_succeeds() {
    let (daemon, h) = on_remote(false, json!({"push_branches": true})).await;
    let (result, events) = h.execute(&h.run("Fix the answer")).await;
    let outcome = result.expect("the run succeeds");
    let push = &outcome.result["push"];
    assert_eq!(push["pushed"], false, "{push}");
    let reason = push["reason"].as_str().expect("a reason");
    assert!(!reason.is_empty(), "{push}");
    assert_eq!(diff_ready(&events)["push"], *push);
    let branch = outcome.result["branch"].as_str().expect("branch");
    assert!(!ref_exists(&daemon.repo(), &format!("refs/heads/{branch}")));
    assert!(ref_exists(&h.mirror(), &format!("refs/heads/{branch}")));
}

#[tokio::test]
async fn push_branches_must_be_true_or_false() {
    let (_daemon, h) = on_remote(true, json!({"push_branches": "yes"})).await;
    let (result, _) = h.execute(&h.run("Fix the answer")).await;
    let reason = fatal_reason(result);
    assert!(
        reason.contains("settings.push_branches must be true or false"),
        "{reason}"
    );
    assert!(h.llm.bodies().is_empty(), "checked before the work starts");
}

#[tokio::test]
async fn rejecting_a_run_deletes_its_pushed_branch_from_the_repository_too() {
    let (daemon, h) = on_remote(
        true,
        json!({"push_branches": true, "require_approval": true}),
    )
    .await;
    let run = h.run("Fix the answer");
    let (result, _) = h.execute(&run).await;
    let outcome = result.expect("the run succeeds");
    assert!(outcome.awaiting_approval);
    let branch = outcome.result["branch"].as_str().expect("branch");
    let branch_ref = format!("refs/heads/{branch}");
    assert!(ref_exists(&daemon.repo(), &branch_ref), "pushed");

    let recorded = RunBranch::from_result(Some(&outcome.result), StoredBranch::none());
    assert!(recorded.pushed);
    let rejected = reject(h.workspace.path(), &h.project, run.id, &recorded)
        .await
        .expect("reject");
    assert!(rejected.deleted_from_origin);
    assert!(!ref_exists(&daemon.repo(), &branch_ref), "deleted remotely");
    assert!(!ref_exists(&h.mirror(), &branch_ref), "deleted locally");
    assert!(ref_exists(&daemon.repo(), "refs/heads/main"));

    reject(h.workspace.path(), &h.project, run.id, &recorded)
        .await
        .expect("rejecting twice is harmless");
    assert!(!ref_exists(&daemon.repo(), &branch_ref));
}

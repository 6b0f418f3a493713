//! Branch snapshots: an attempt's ending carries a bundle of its branch, and
//! an attempt on another workspace root (another worker's disk) continues
//! from it; an attempt on the same disk never reads it.

use crate::fake_llm::changelog_in_two_steps;
use crate::helpers::{Harness, RecordingEvents, fatal_reason, git};
use agent_runner_agent::{AgentError, AgentOutcome, RunSpec, StoredBranch};
use agent_runner_domain::{BranchSnapshot, EventKind};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// Points the harness at a new, empty workspace root.
fn move_to_another_disk(h: &mut Harness) -> TempDir {
    let other = tempfile::tempdir().expect("tempdir");
    h.config.workspace_root = other.path().to_path_buf();
    other
}

fn mirror_in(root: &TempDir, h: &Harness) -> PathBuf {
    root.path()
        .join("mirrors")
        .join(format!("{}.git", h.project.id))
}

/// A stored snapshot that counts how often it is read.
fn counted(snapshot: Option<BranchSnapshot>) -> (StoredBranch, Arc<AtomicUsize>) {
    let reads = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reads);
    let stored = StoredBranch::lazy(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let snapshot = snapshot.clone();
        Box::pin(async move { Ok(snapshot) })
    });
    (stored, reads)
}

/// Runs "Start a changelog" to its end. Returns its outcome and events, and
/// the run made ready for its follow-up attempt ("Add a second entry"),
/// with no stored branch yet.
async fn first_attempt(h: &Harness) -> (AgentOutcome, RecordingEvents, RunSpec) {
    let mut run = h.run("Start a changelog");
    let (first, events) = h.execute(&run).await;
    let first = first.expect("the first run succeeds");
    run.attempt = 2;
    run.messages = vec!["Add a second entry".to_owned()];
    run.previous_result = Some(first.result.clone());
    (first, events, run)
}

fn ready_payload(events: &RecordingEvents) -> Value {
    events
        .events()
        .into_iter()
        .find(|(kind, _)| *kind == EventKind::WorkspaceReady)
        .map(|(_, payload)| payload)
        .expect("WORKSPACE_READY")
}

#[tokio::test]
async fn a_follow_up_on_another_disk_continues_from_the_snapshot() {
    let mut h = Harness::new(changelog_in_two_steps(), None).await;
    let (first, events, mut run) = first_attempt(&h).await;
    assert_eq!(ready_payload(&events)["branch_source"], "new");
    let snapshot = first.branch.clone().expect("a snapshot");
    assert_eq!(
        snapshot.branch,
        first.result["branch"].as_str().expect("text")
    );
    assert_eq!(
        snapshot.head_commit,
        first.result["head_commit"].as_str().expect("text")
    );
    assert_eq!(
        snapshot.start_commit,
        first.result["start_commit"].as_str().expect("text")
    );
    assert!(!snapshot.bundle.is_empty());
    assert_eq!(first.result["snapshot"]["stored"], true);

    let other = move_to_another_disk(&mut h);
    let (stored, reads) = counted(Some(snapshot));
    run.branch = stored;
    let (second, events) = h.execute(&run).await;
    let second = second.expect("the follow-up succeeds");
    assert_eq!(ready_payload(&events)["branch_source"], "snapshot");
    assert_eq!(reads.load(Ordering::SeqCst), 1);

    let mirror = mirror_in(&other, &h);
    let head = second.result["head_commit"].as_str().expect("head");
    assert_eq!(
        git(&mirror, &["rev-parse", &format!("{head}^")]),
        first.result["head_commit"].as_str().expect("head"),
        "the follow-up's commit sits on the first attempt's"
    );
    assert!(
        second.result["diff"]
            .as_str()
            .is_some_and(|d| d.contains("+- first\n+- second")),
        "{}",
        second.result["diff"]
    );
    assert_eq!(
        second.branch.expect("a new snapshot").head_commit,
        head,
        "the next snapshot covers the follow-up"
    );
}

#[tokio::test]
async fn a_follow_up_on_the_same_disk_reads_no_snapshot() {
    let h = Harness::new(changelog_in_two_steps(), None).await;
    let (first, _, mut run) = first_attempt(&h).await;

    let (stored, reads) = counted(first.branch);
    run.branch = stored;
    let (second, events) = h.execute(&run).await;
    second.expect("the follow-up succeeds");
    assert_eq!(ready_payload(&events)["branch_source"], "local");
    assert_eq!(reads.load(Ordering::SeqCst), 0, "the mirror has the head");
}

#[tokio::test]
async fn a_snapshot_that_can_not_be_read_is_a_transient_failure() {
    let mut h = Harness::new(changelog_in_two_steps(), None).await;
    let (_, _, mut run) = first_attempt(&h).await;

    let _other = move_to_another_disk(&mut h);
    run.branch = StoredBranch::lazy(|| Box::pin(async { Err("database down".to_owned()) }));
    let (result, _) = h.execute(&run).await;
    match result {
        Err(AgentError::Transient(reason)) => assert!(
            reason.contains("could not read the run's stored branch snapshot: database down"),
            "{reason}"
        ),
        other => panic!("expected a transient failure, got {other:?}"),
    }
    assert_eq!(h.llm.bodies().len(), 2, "the model is not asked again");
}

#[tokio::test]
async fn without_a_snapshot_a_branch_on_no_disk_ends_the_attempt_with_a_clear_reason() {
    let mut h = Harness::new(changelog_in_two_steps(), None).await;
    let (_, _, mut run) = first_attempt(&h).await;

    let _other = move_to_another_disk(&mut h);
    run.branch = StoredBranch::none();
    let events = RecordingEvents::default();
    let result = h
        .execute_with(&run, &events, CancellationToken::new())
        .await;
    let reason = fatal_reason(result);
    assert!(reason.contains("no snapshot"), "{reason}");
    assert_eq!(h.llm.bodies().len(), 2, "the model is not asked again");
}

#[tokio::test]
async fn a_project_without_a_repository_continues_on_another_disk() {
    let mut h = Harness::new(changelog_in_two_steps(), None).await;
    h.project.repo_url = None;
    let (first, _, mut run) = first_attempt(&h).await;

    let other = move_to_another_disk(&mut h);
    run.branch = StoredBranch::known(first.branch);
    let (second, events) = h.execute(&run).await;
    let second = second.expect("the follow-up succeeds");
    assert_eq!(ready_payload(&events)["branch_source"], "snapshot");
    // Both disks made the same empty start commit.
    assert_eq!(
        git(&mirror_in(&other, &h), &["rev-parse", "main"]),
        first.result["start_commit"].as_str().expect("start")
    );
    let branch = second.result["branch"].as_str().expect("branch");
    assert_eq!(
        git(
            &mirror_in(&other, &h),
            &["show", &format!("{branch}:CHANGELOG.md")]
        ),
        "- first\n- second"
    );
}

#[tokio::test]
async fn a_snapshot_over_the_cap_is_not_stored_and_says_why() {
    let mut h = Harness::new(changelog_in_two_steps(), None).await;
    h.config.snapshot_cap = 16;
    let run = h.run("Start a changelog");
    let (first, _) = h.execute(&run).await;
    let first = first.expect("the run succeeds");
    assert!(first.branch.is_none());
    assert_eq!(first.result["snapshot"]["stored"], false);
    let reason = first.result["snapshot"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("AGENT_SNAPSHOT_MAX_BYTES"), "{reason}");
}

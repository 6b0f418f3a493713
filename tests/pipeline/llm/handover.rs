//! A run outlives the worker that ran it: its branch is stored as a bundle
//! with each ending, so a follow-up, an exec or a review carried out by
//! another worker — with a disk of its own — continues from the same commits.

use super::{ENDED, Setup, changelog_in_two_steps};

use agent_runner_test_fixtures::git_repo::{git, ref_exists};
use agent_runner_tests::{TestEnv, WorkerHandle};
use serde_json::{Value, json};
use tempfile::TempDir;

/// A second `llm` worker on its own workspace root, talking to the same
/// scripted model.
async fn second_worker(env: &TestEnv, llm_base_url: &str) -> (WorkerHandle, TempDir) {
    let workspace = tempfile::tempdir().expect("tempdir");
    let root = workspace.path().to_string_lossy().into_owned();
    let worker = WorkerHandle::spawn_llm(
        env,
        &[
            ("LLM_BASE_URL", llm_base_url),
            ("LLM_MODEL", "test-model"),
            ("WORKSPACE_ROOT", &root),
        ],
    )
    .await;
    worker.wait_consuming(env).await;
    (worker, workspace)
}

fn mirror(workspace: &TempDir, project: &str) -> std::path::PathBuf {
    workspace
        .path()
        .join("mirrors")
        .join(format!("{project}.git"))
}

/// The stored snapshot's head commit, if any.
async fn snapshot_head(s: &Setup, id: &str) -> Option<String> {
    let client = s.env.pool.get().await.expect("db");
    let run_id: uuid::Uuid = id.parse().expect("run id");
    client
        .query_opt(
            "SELECT head_commit FROM run_branches WHERE run_id = $1",
            &[&run_id],
        )
        .await
        .expect("query")
        .map(|row| row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follow_up_on_another_worker_continues_from_the_stored_branch() {
    let mut s = Setup::new(changelog_in_two_steps(), json!({})).await;
    let id = s.submit("Start a changelog").await;
    let first = s.wait(&id, &ENDED).await;
    assert_eq!(first["status"], "COMPLETED", "{first}");
    assert_eq!(first["result"]["snapshot"]["stored"], true, "{first}");
    assert_eq!(
        snapshot_head(&s, &id).await.as_deref(),
        first["result"]["head_commit"].as_str()
    );

    // The first worker and its disk go away; another one comes.
    let (other, other_disk) = second_worker(&s.env, &s.llm.base_url).await;
    let first_worker = std::mem::replace(&mut s.worker, other);
    let first_worker_id = first_worker.id.clone();
    first_worker.stop().await;
    drop(std::mem::replace(
        &mut s.workspace,
        tempfile::tempdir().expect("tempdir"),
    ));

    let (status, run) = s
        .api
        .post(
            &format!("/v1/runs/{id}/messages"),
            json!({"message": "Add a second entry"}),
        )
        .await;
    assert_eq!(status, 202, "{run}");
    let second = s.wait(&id, &ENDED).await;
    assert_eq!(second["status"], "COMPLETED", "{second}");
    assert_eq!(second["attempt"], 2);
    assert_eq!(second["worker_id"], s.worker.id);
    assert_ne!(second["worker_id"], first_worker_id);

    let events = s.api.events(&id).await;
    let ready: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "WORKSPACE_READY")
        .collect();
    assert_eq!(ready.len(), 2, "{events:?}");
    assert_eq!(ready[0]["payload"]["branch_source"], "new");
    assert_eq!(ready[1]["payload"]["branch_source"], "snapshot");

    let branch = second["result"]["branch"].as_str().expect("branch");
    assert_eq!(branch, first["result"]["branch"].as_str().expect("branch"));
    let new_mirror = mirror(&other_disk, &s.project);
    assert_eq!(
        git(&new_mirror, &["show", &format!("{branch}:CHANGELOG.md")]),
        "- first\n- second"
    );
    // The first attempt's commit is an ancestor of the second's.
    let first_head = first["result"]["head_commit"].as_str().expect("head");
    let second_head = second["result"]["head_commit"].as_str().expect("head");
    assert_eq!(
        git(&new_mirror, &["rev-parse", &format!("{second_head}~1")]),
        first_head
    );
    assert_eq!(
        snapshot_head(&s, &id).await.as_deref(),
        Some(second_head),
        "the snapshot follows the latest ending"
    );
    let (_, diff) = s.api.get(&format!("/v1/runs/{id}/diff")).await;
    assert!(
        diff["diff"]
            .as_str()
            .is_some_and(|d| d.contains("+- first\n+- second")),
        "{diff}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exec_and_approve_go_to_another_worker_when_the_runs_worker_is_gone() {
    let (mut s, id, run) = Setup::awaiting_approval().await;
    let gone = s.worker.id.clone();
    assert_eq!(run["worker_id"], gone);

    let (other, other_disk) = second_worker(&s.env, &s.llm.base_url).await;
    std::mem::replace(&mut s.worker, other).stop().await;

    let (status, out) = s
        .api
        .post(
            &format!("/v1/runs/{id}/exec"),
            json!({"cmd": "cat src/lib.rs; git log --format=%s -1"}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["worker_id"], s.worker.id, "{out}");
    let stdout = out["stdout"].as_str().unwrap_or_default();
    assert!(stdout.contains("    42\n"), "{stdout}");
    assert!(stdout.contains("Fixed the answer."), "{stdout}");
    assert!(
        other_disk
            .path()
            .join("runs")
            .join(&id)
            .join(".git")
            .is_file(),
        "the worktree was made again on the new worker's disk"
    );

    let (status, run) = s
        .api
        .post(&format!("/v1/runs/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["result"]["review"]["worker_id"], s.worker.id);
    let merged = run["result"]["review"]["merged_commit"]
        .as_str()
        .expect("merge commit");
    assert_eq!(git(s.origin.path(), &["rev-parse", "main"]), merged);
    assert_eq!(
        git(s.origin.path(), &["show", "main:src/lib.rs"]),
        "pub fn answer() -> u32 {\n    42\n}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_no_worker_connected_a_review_is_503_and_later_succeeds_elsewhere() {
    let (s, id, run) = Setup::awaiting_approval().await;
    let branch = run["result"]["branch"].as_str().expect("branch").to_owned();
    let gone = s.worker.id.clone();
    let Setup {
        env,
        api,
        worker,
        llm,
        origin,
        workspace,
        project,
    } = s;
    worker.stop().await;

    let (status, body) = api.post(&format!("/v1/runs/{id}/approve"), json!({})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "no_worker");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&gone), "{message}");
    let (_, run) = api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "AWAITING_APPROVAL", "nothing changed");

    // A new worker, on its own disk, takes the next review.
    let (worker, other_disk) = second_worker(&env, &llm.base_url).await;
    let s = Setup {
        env,
        api,
        worker,
        llm,
        origin,
        workspace,
        project,
    };
    assert!(snapshot_head(&s, &id).await.is_some());
    let (status, run) = s
        .api
        .post(&format!("/v1/runs/{id}/reject"), json!({}))
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "REJECTED");
    assert_eq!(run["result"]["review"]["worker_id"], s.worker.id);
    assert_eq!(
        snapshot_head(&s, &id).await,
        None,
        "a rejected run's snapshot is deleted"
    );
    assert!(!ref_exists(
        &mirror(&other_disk, &s.project),
        &format!("refs/heads/{branch}")
    ));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_whose_worker_stopped_before_answering_is_closed_and_blocks_nothing() {
    let (mut s, id, _) = Setup::awaiting_approval().await;
    // An approval the worker received but never answered: it stops.
    let run_id: uuid::Uuid = id.parse().expect("run id");
    let request_id = uuid::Uuid::new_v4();
    let gone = s.worker.id.clone();
    s.env
        .pool
        .get()
        .await
        .expect("db")
        .execute(
            "INSERT INTO run_requests (id, run_id, kind, worker_id, params)
             VALUES ($1, $2, 'APPROVE', $3, '{\"target\": {\"keep\": true}}')",
            &[&request_id, &run_id, &gone],
        )
        .await
        .expect("insert");
    let (other, _other_disk) = second_worker(&s.env, &s.llm.base_url).await;
    std::mem::replace(&mut s.worker, other).stop().await;

    let (status, request) = s
        .api
        .get(&format!("/v1/runs/{id}/requests/{request_id}"))
        .await;
    assert_eq!(status, 200, "{request}");
    assert_eq!(request["status"], "FAILED", "{request}");
    let error = request["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&gone) && error.contains("stopped before it answered"),
        "{error}"
    );
    let (status, run) = s
        .api
        .post(&format!("/v1/runs/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, 200, "the abandoned review blocks nothing: {run}");
    assert_eq!(run["status"], "COMPLETED");
    s.stop().await;
}

//! Approve, reject and exec, carried out by the worker that holds the run's
//! worktree; and the one-open-review rule.

use super::{ENDED, Setup, fix_the_answer};
use agent_runner_store::access::Role;
use agent_runner_test_fixtures::git_daemon::GitDaemon;
use agent_runner_test_fixtures::git_repo::{git, origin_repo, ref_exists};
use agent_runner_tests::{ApiHandle, TestEnv};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approving_merges_the_branch_into_the_default_branch_and_exec_needs_an_admin() {
    let (s, id, run) = Setup::awaiting_approval().await;
    assert_eq!(run["worker_id"], s.worker.id);

    let (status, out) = s
        .api
        .post(
            &format!("/v1/runs/{id}/exec"),
            json!({"cmd": "grep -c 42 src/lib.rs; echo oops >&2; exit 3"}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["exit_code"], 3);
    assert_eq!(out["stdout"], "1\n");
    assert_eq!(out["stderr"], "oops\n");
    assert_eq!(out["timed_out"], false);

    // Even a reviewer may not run commands in the worktree.
    let reader = s.env.token_with(Role::Reviewer, &[]).await;
    let (status, body) = s
        .api
        .request_as(
            &reader,
            reqwest::Method::POST,
            &format!("/v1/runs/{id}/exec"),
            Some(json!({"cmd": "id"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = s
        .api
        .post(&format!("/v1/runs/{id}/exec"), json!({"cmd": "  "}))
        .await;
    assert_eq!(status, 422);

    let (status, run) = s
        .api
        .post(&format!("/v1/runs/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["result"]["review"]["decision"], "approved");
    assert_eq!(run["result"]["review"]["merged_into"], "main");
    let merged = run["result"]["review"]["merged_commit"]
        .as_str()
        .expect("merge commit");
    assert_eq!(git(s.origin.path(), &["rev-parse", "main"]), merged);
    assert_eq!(
        git(s.origin.path(), &["show", "main:src/lib.rs"]),
        "pub fn answer() -> u32 {\n    42\n}"
    );
    let kinds = s.api.kinds(&id).await;
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["AWAITING_APPROVAL".to_owned(), "RUN_COMPLETED".to_owned()]
    );

    let (status, body) = s
        .api
        .post(&format!("/v1/runs/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, 409, "approving twice: {body}");
    assert_eq!(git(s.origin.path(), &["rev-parse", "main"]), merged);
    assert_eq!(s.api.kinds(&id).await.len(), kinds.len());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repository_that_refuses_pushes_fails_the_approval_until_the_branch_is_kept_unpushed() {
    let remote = GitDaemon::serve(origin_repo().path(), false).await;
    let mut s = Setup::new(fix_the_answer(), json!({})).await;
    let settings = json!({"require_approval": true});
    s.use_project_on(&remote.url(), settings).await;
    let id = s.submit("Fix the answer").await;
    let run = s.wait(&id, &ENDED).await;
    assert_eq!(run["status"], "AWAITING_APPROVAL", "{run}");
    let remote_main = git(&remote.repo(), &["rev-parse", "main"]);

    let (status, body) = s
        .api
        .post(&format!("/v1/runs/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains(&format!("pushing to {} failed", remote.url())),
        "{message}"
    );
    let (_, run) = s.api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "AWAITING_APPROVAL");
    assert_eq!(git(&remote.repo(), &["rev-parse", "main"]), remote_main);

    let (status, body) = s
        .api
        .post(
            &format!("/v1/runs/{id}/approve"),
            json!({"merge_into": "main", "push": false}),
        )
        .await;
    assert_eq!(status, 422, "a merge that is not pushed: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("keep with push false")),
        "{body}"
    );

    let (status, run) = s
        .api
        .post(
            &format!("/v1/runs/{id}/approve"),
            json!({"keep": true, "push": false}),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "COMPLETED");
    let review = &run["result"]["review"];
    assert_eq!(review["decision"], "approved");
    assert_eq!(review["merged_into"], serde_json::Value::Null);
    assert_eq!(review["pushed_to_origin"], false);
    let branch = review["branch"].as_str().expect("branch");
    assert!(ref_exists(&s.mirror(), &format!("refs/heads/{branch}")));
    assert!(!ref_exists(&remote.repo(), &format!("refs/heads/{branch}")));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejecting_deletes_the_branch_and_a_rejected_run_takes_no_messages() {
    let (s, id, run) = Setup::awaiting_approval().await;
    let branch = run["result"]["branch"].as_str().expect("branch").to_owned();
    assert!(ref_exists(&s.mirror(), &format!("refs/heads/{branch}")));

    let (status, run) = s
        .api
        .post(&format!("/v1/runs/{id}/reject"), json!({}))
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "REJECTED");
    assert!(!ref_exists(&s.mirror(), &format!("refs/heads/{branch}")));
    assert!(!s.workspace.path().join("runs").join(&id).exists());
    assert_eq!(
        git(s.origin.path(), &["show", "main:src/lib.rs"]),
        "pub fn answer() -> u32 {\n    41\n}"
    );
    assert_eq!(
        s.api.kinds(&id).await.last().map(String::as_str),
        Some("RUN_REJECTED")
    );
    let (status, body) = s
        .api
        .post(
            &format!("/v1/runs/{id}/messages"),
            json!({"message": "more"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exec_longer_than_the_wait_answers_202_with_a_request_to_poll() {
    let (s, id, _) = Setup::awaiting_approval_with(&[("REQUEST_WAIT_MS", "200")]).await;

    let (status, body) = s
        .api
        .post(
            &format!("/v1/runs/{id}/exec"),
            json!({"cmd": "sleep 1; cat src/lib.rs", "timeout_s": 10}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["request"]["status"], "PENDING");
    let poll = body["poll"].as_str().expect("poll url").to_owned();
    let request = s.answered(&poll).await;
    assert_eq!(request["status"], "DONE", "{request}");
    assert_eq!(request["kind"], "EXEC");
    assert_eq!(request["worker_id"], s.worker.id);
    assert_eq!(request["result"]["exit_code"], 0);
    assert_eq!(
        request["result"]["stdout"],
        "pub fn answer() -> u32 {\n    42\n}\n"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_one_review_of_a_run_is_open_at_a_time_and_messages_wait_for_it() {
    use agent_runner_store::run_requests::{self, OpenOutcome, RequestKind};
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let id = api
        .submit_body(json!({"project_id": project, "goal": "g", "agent": "llm"}))
        .await;
    // Pose as a run a (live) worker left awaiting approval.
    let run_id: uuid::Uuid = id.parse().expect("uuid");
    agent_runner_store::workers::register(
        &env.pool,
        "w-elsewhere",
        "elsewhere",
        1,
        "127.0.0.1:1",
        None,
        60.0,
    )
    .await
    .expect("register");
    env.sql(
        "UPDATE runs SET status = 'AWAITING_APPROVAL', worker_id = 'w-elsewhere', attempt = 1 WHERE id = $1",
        &[&run_id],
    )
    .await;

    let first = match run_requests::open(&env.pool, run_id, RequestKind::Approve, &json!({}))
        .await
        .expect("open")
    {
        OpenOutcome::Opened(request) => request,
        other => panic!("expected a new request, got {other:?}"),
    };
    assert_eq!(first.worker_id, "w-elsewhere");
    let second = run_requests::open(&env.pool, run_id, RequestKind::Reject, &json!({}))
        .await
        .expect("open");
    assert!(
        matches!(second, OpenOutcome::ReviewInProgress),
        "{second:?}"
    );
    let (status, body) = api.post(&format!("/v1/runs/{id}/approve"), json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("in progress")),
        "{body}"
    );
    let (status, body) = api
        .post(
            &format!("/v1/runs/{id}/messages"),
            json!({"message": "more"}),
        )
        .await;
    assert_eq!(status, 409, "a follow-up waits for the review: {body}");
    let exec = run_requests::open(
        &env.pool,
        run_id,
        RequestKind::Exec,
        &json!({"cmd": "true"}),
    )
    .await
    .expect("open");
    assert!(
        matches!(exec, OpenOutcome::Opened(_)),
        "exec is not a review"
    );

    assert!(
        run_requests::fail(&env.pool, first.id, "given up")
            .await
            .expect("fail")
    );
    assert!(
        !run_requests::fail(&env.pool, first.id, "again")
            .await
            .expect("fail")
    );
    let third = run_requests::open(&env.pool, run_id, RequestKind::Reject, &json!({}))
        .await
        .expect("open");
    assert!(matches!(third, OpenOutcome::Opened(_)), "{third:?}");
    api.stop().await;
}

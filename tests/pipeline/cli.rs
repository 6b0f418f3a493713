//! The `agent-runner` CLI end to end against a real api and worker: the
//! simulated agent for submit and watch, the `llm` agent (scripted model,
//! temporary git repository, see `llm`) for message, exec and approve.

use crate::llm::{ENDED, Setup, changelog_in_two_steps};
use agent_runner_store::access::Role;
use agent_runner_test_fixtures::git_repo::{git, ref_exists};
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle, binary};
use serde_json::json;
use std::process::Output;

/// Runs the CLI against `api` with its admin token.
async fn cli(api: &ApiHandle, args: &[&str]) -> Output {
    cli_as(api, &api.token, args).await
}

/// Runs the CLI against `api` with `token`, no colours.
async fn cli_as(api: &ApiHandle, token: &str, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(binary("agent-runner"));
    command
        .args(args)
        .env("AGENT_RUNNER_URL", &api.base_url)
        .env("AGENT_RUNNER_TOKEN", token)
        .env("NO_COLOR", "1");
    command.output().await.expect("the cli runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Both streams, for assertion messages.
fn shown(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submit_watch_exits_0_on_completed_and_1_on_failed() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let added = cli(&api, &["projects", "add", "cli-demo"]).await;
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    let ok = cli(
        &api,
        &[
            "submit",
            "--project",
            "cli-demo",
            "--goal",
            "g",
            "--param",
            "step_delay_ms=50",
            "--watch",
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let order = [
        "RUN_CREATED",
        "RUN_STARTED",
        "AGENT_THINKING",
        "PLAN_GENERATED",
        "EXECUTING",
        "RUN_COMPLETED",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| stdout.find(k).unwrap_or(usize::MAX))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]) && positions[5] != usize::MAX,
        "{stdout}"
    );

    let failed = cli(
        &api,
        &[
            "submit",
            "--project",
            "cli-demo",
            "--goal",
            "g",
            "--max-attempts",
            "1",
            "--param",
            "step_delay_ms=0",
            "--param",
            "fail=fatal",
            "--watch",
        ],
    )
    .await;
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&failed.stdout)
    );

    let listed = cli(&api, &["--json", "runs", "list"]).await;
    assert!(listed.status.success());
    let body: serde_json::Value =
        serde_json::from_slice(&listed.stdout).expect("--json prints JSON");
    assert_eq!(body["runs"].as_array().map(Vec::len), Some(2));
    // `runs` alone lists too, with the same options.
    let alone = cli(&api, &["--json", "runs", "--status", "failed"]).await;
    assert!(
        alone.status.success(),
        "{}",
        String::from_utf8_lossy(&alone.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&alone.stdout).expect("JSON");
    assert_eq!(body["runs"].as_array().map(Vec::len), Some(1), "{body}");
    let projects = cli(&api, &["--json", "projects"]).await;
    assert!(
        projects.status.success(),
        "{}",
        String::from_utf8_lossy(&projects.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&projects.stdout).expect("JSON");
    assert!(
        body["projects"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == "cli-demo")),
        "{body}"
    );
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_token_exits_4_with_the_api_message() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let output = tokio::process::Command::new(binary("agent-runner"))
        .args(["runs", "list"])
        .env("AGENT_RUNNER_URL", &api.base_url)
        .env("AGENT_RUNNER_TOKEN", "art_wrong")
        .output()
        .await
        .expect("the cli runs");
    assert_eq!(output.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unauthorized"));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn message_watch_exits_0_once_the_follow_up_completes_and_the_model_got_the_message() {
    let s = Setup::new(changelog_in_two_steps(), json!({})).await;
    let id = s.submit("Start a changelog").await;
    let first = s.wait(&id, &ENDED).await;
    assert_eq!(first["status"], "COMPLETED", "{first}");

    let out = cli(&s.api, &["message", &id, "Add a second entry", "--watch"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("run {id} COMPLETED (attempt 2 of")),
        "{text}"
    );
    let posted = text
        .find("MESSAGE_POSTED")
        .expect("the message in the timeline");
    assert!(
        text[posted..].contains("RUN_COMPLETED"),
        "the follow-up's end is shown: {text}"
    );

    let (_, run) = s.api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["attempt"], 2);
    assert_eq!(run["result"]["messages_handled"], 1);
    let bodies = s.llm.bodies();
    assert_eq!(bodies.len(), 4, "both attempts asked the model");
    let last = bodies[2]["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .expect("a message");
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"], "Add a second entry");

    // A run that takes no messages (not an llm run): the api's 409, exit 4.
    let project = s.api.project().await;
    let simulated = s.api.submit(&project, json!({"step_delay_ms": 0})).await;
    let refused = cli(&s.api, &["message", &simulated, "more"]).await;
    assert_eq!(refused.status.code(), Some(4), "{}", shown(&refused));
    assert!(stderr(&refused).contains("conflict"), "{}", shown(&refused));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exec_prints_the_command_output_exits_with_its_code_and_refuses_a_non_admin_token() {
    let (s, id, _) = Setup::awaiting_approval().await;

    let out = cli(&s.api, &["exec", &id, "sh", "-c", "echo hi; exit 3"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", shown(&out));
    assert_eq!(stdout(&out), "hi\n");

    let out = cli(
        &s.api,
        &["exec", &id, "grep -c 42 src/lib.rs; echo oops >&2"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(stdout(&out), "1\n", "it runs in the run's worktree");
    assert_eq!(stderr(&out), "oops\n");

    let out = cli(&s.api, &["--json", "exec", &id, "exit 7"]).await;
    assert_eq!(out.status.code(), Some(7), "{}", shown(&out));
    let request: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("--json prints one JSON document");
    assert_eq!(request["kind"], "EXEC", "{request}");
    assert_eq!(request["status"], "DONE");
    assert_eq!(request["run_id"], id.as_str());
    assert_eq!(request["worker_id"], s.worker.id);
    assert_eq!(request["result"]["exit_code"], 7);

    let reader = s.env.token_with(Role::Reviewer, &[]).await;
    let out = cli_as(&s.api, &reader, &["exec", &id, "touch", "pwned"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", shown(&out));
    let err = stderr(&out);
    assert!(
        err.contains("forbidden") && err.contains("admin role"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert!(
        !s.workspace
            .path()
            .join("runs")
            .join(&id)
            .join("pwned")
            .exists(),
        "the command did not run"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_merge_into_merges_into_that_branch_and_requests_the_api_hands_over_are_waited_for()
{
    // REQUEST_WAIT_MS=0: the api hands every exec and review over at once
    // (202), so the CLI has to poll the request for the answer.
    let (s, id, _) = Setup::awaiting_approval_with(&[("REQUEST_WAIT_MS", "0")]).await;
    git(s.origin.path(), &["branch", "release"]);

    let out = cli(
        &s.api,
        &[
            "exec",
            &id,
            "--timeout-s",
            "20",
            "sleep 1; echo late; exit 5",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(5), "{}", shown(&out));
    assert_eq!(stdout(&out), "late\n");

    let both = cli(
        &s.api,
        &["approve", &id, "--merge-into", "release", "--keep"],
    )
    .await;
    assert_eq!(both.status.code(), Some(2), "{}", shown(&both));
    assert!(
        stderr(&both).contains("cannot be used with"),
        "{}",
        shown(&both)
    );
    let (_, run) = s.api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "AWAITING_APPROVAL", "nothing was sent");

    // The worker cannot merge into a branch that does not exist: the request
    // it was handed ends FAILED, and the CLI exits 4 with the worker's reason.
    let missing = cli(&s.api, &["approve", &id, "--merge-into", "no-such-branch"]).await;
    assert_eq!(missing.status.code(), Some(4), "{}", shown(&missing));
    assert!(
        stderr(&missing).contains("no-such-branch"),
        "{}",
        shown(&missing)
    );
    let (_, run) = s.api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "AWAITING_APPROVAL", "{run}");

    let out = cli(&s.api, &["approve", &id, "--merge-into", "release"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        stdout(&out).contains("merged into release"),
        "{}",
        shown(&out)
    );
    let (_, run) = s.api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["result"]["review"]["merged_into"], "release");
    let merged = run["result"]["review"]["merged_commit"]
        .as_str()
        .expect("merge commit");
    assert_eq!(git(s.origin.path(), &["rev-parse", "release"]), merged);
    assert_eq!(
        git(s.origin.path(), &["show", "release:src/lib.rs"]),
        "pub fn answer() -> u32 {\n    42\n}"
    );
    assert_eq!(
        git(s.origin.path(), &["show", "main:src/lib.rs"]),
        "pub fn answer() -> u32 {\n    41\n}",
        "the default branch is left alone"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_keep_no_push_keeps_the_branch_out_of_the_projects_repository() {
    let (s, id, run) = Setup::awaiting_approval().await;
    let branch = run["result"]["branch"].as_str().expect("branch").to_owned();

    let alone = cli(&s.api, &["approve", &id, "--no-push"]).await;
    assert_eq!(alone.status.code(), Some(2), "{}", shown(&alone));
    assert!(stderr(&alone).contains("--keep"), "{}", shown(&alone));

    let out = cli(&s.api, &["approve", &id, "--keep", "--no-push"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        stdout(&out).contains(&format!("{branch} kept, not merged")),
        "{}",
        shown(&out)
    );
    assert!(!stdout(&out).contains("pushed"), "{}", shown(&out));
    let (_, run) = s.api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["result"]["review"]["pushed_to_origin"], false);
    assert!(!ref_exists(
        s.origin.path(),
        &format!("refs/heads/{branch}")
    ));
    assert!(ref_exists(&s.mirror(), &format!("refs/heads/{branch}")));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_does_not_answer_within_wait_exits_5_naming_the_request_to_poll() {
    let (s, id, _) = Setup::awaiting_approval_with(&[("REQUEST_WAIT_MS", "0")]).await;

    let out = cli(
        &s.api,
        &["exec", &id, "--wait", "1", "sleep 3; echo finally"],
    )
    .await;
    assert_eq!(out.status.code(), Some(5), "{}", shown(&out));
    let said = stderr(&out);
    assert!(
        said.contains("has not answered request") && said.contains("it may still do so"),
        "{}",
        shown(&out)
    );
    let poll = said
        .split("GET ")
        .nth(1)
        .map(str::trim)
        .expect("the request to poll")
        .to_owned();
    assert!(
        poll.starts_with(&format!("/v1/runs/{id}/requests/")),
        "{poll}"
    );

    // The worker does answer, later: the request the CLI named has it.
    let request = s.answered(&poll).await;
    assert_eq!(request["status"], "DONE", "{request}");
    assert_eq!(request["result"]["stdout"], "finally\n", "{request}");

    let zero = cli(&s.api, &["approve", &id, "--wait", "0"]).await;
    assert_eq!(zero.status.code(), Some(2), "{}", shown(&zero));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn projects_add_takes_settings_and_update_changes_them_key_by_key() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let added = cli(
        &api,
        &[
            "projects",
            "add",
            "shop",
            "--repo",
            "/srv/shop.git",
            "--setting",
            "require_approval=true",
            "--setting",
            "merge_into=release",
        ],
    )
    .await;
    assert_eq!(added.status.code(), Some(0), "{}", shown(&added));

    let updated = cli(
        &api,
        &[
            "projects",
            "update",
            "shop",
            "--no-repo",
            "--setting",
            "push_branches=true",
            "--unset",
            "merge_into",
        ],
    )
    .await;
    assert_eq!(updated.status.code(), Some(0), "{}", shown(&updated));
    assert!(
        stdout(&updated).contains("project shop updated: repo (none)"),
        "{}",
        shown(&updated)
    );
    let (_, listed) = api.get("/v1/projects").await;
    let shop = &listed["projects"][0];
    assert_eq!(shop["repo_url"], serde_json::Value::Null);
    assert_eq!(
        shop["settings"],
        json!({"require_approval": true, "push_branches": true})
    );

    let refused = cli(
        &api,
        &["projects", "update", "shop", "--setting", "git_timeout_s=0"],
    )
    .await;
    assert_eq!(refused.status.code(), Some(4), "{}", shown(&refused));
    assert!(
        stderr(&refused).contains("settings.git_timeout_s"),
        "{}",
        shown(&refused)
    );
    let both = cli(
        &api,
        &["projects", "update", "shop", "--repo", "/x", "--no-repo"],
    )
    .await;
    assert_eq!(both.status.code(), Some(2), "{}", shown(&both));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn projects_usage_shows_the_budgets_and_a_line_per_day() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let added = cli(
        &api,
        &[
            "projects",
            "add",
            "metered",
            "--setting",
            "token_budget_daily=1000",
        ],
    )
    .await;
    assert_eq!(added.status.code(), Some(0), "{}", shown(&added));

    let usage = cli(&api, &["projects", "usage", "metered", "--days", "2"]).await;
    assert_eq!(usage.status.code(), Some(0), "{}", shown(&usage));
    let text = stdout(&usage);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "budget: daily 1000 tokens, monthly none (a run that would start over it: wait)",
        "{text}"
    );
    assert_eq!(lines[1], "today: 0 tokens, 0 runs", "{text}");
    assert_eq!(
        lines.len(),
        6,
        "budget, today, month, header and two days: {text}"
    );

    let refused = cli(&api, &["projects", "usage", "metered", "--days", "0"]).await;
    assert_ne!(refused.status.code(), Some(0), "{}", shown(&refused));
    api.stop().await;
}

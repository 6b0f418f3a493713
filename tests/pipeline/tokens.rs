//! Tokens: `agent-runner-api token create --role --project`, and the
//! migration that gave tokens roles keeping what existing tokens could do.

use agent_runner_store::access::Role;
use agent_runner_store::{migrate, tokens};
use agent_runner_tests::{ApiHandle, TestEnv, binary};
use reqwest::Method;
use serde_json::json;
use std::process::Output;

/// Runs `agent-runner-api token ARGS` on the test's database.
async fn token_command(env: &TestEnv, args: &[&str]) -> Output {
    tokio::process::Command::new(binary("agent-runner-api"))
        .arg("token")
        .args(args)
        .env("DATABASE_URL", &env.database_url)
        .env("AMQP_URL", &env.amqp_url)
        .output()
        .await
        .expect("the api binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_create_scopes_a_role_to_projects_named_or_by_id_and_refuses_unknown_ones() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let (status, named) = api.post("/v1/projects", json!({"name": "payments"})).await;
    assert_eq!(status, 201, "{named}");
    let other = api.project().await;

    let created = token_command(
        &env,
        &[
            "create",
            "--name",
            "ci",
            "--role",
            "runner",
            "--project",
            "payments",
            "--project",
            &other,
        ],
    )
    .await;
    assert!(created.status.success(), "{}", text(&created.stderr));
    let secret = text(&created.stdout).trim().to_owned();
    let principal = tokens::authenticate(&env.pool, &secret)
        .await
        .expect("lookup")
        .expect("a live token");
    assert_eq!(principal.role, Role::Runner);
    let mut expected = vec![
        named["id"].as_str().expect("id").parse().expect("uuid"),
        other.parse().expect("uuid"),
    ];
    expected.sort_unstable();
    assert_eq!(principal.projects, Some(expected));

    // It submits into its projects, and is refused what a runner may not do.
    let (status, run) = api
        .request_as(
            &secret,
            Method::POST,
            "/v1/runs",
            Some(json!({"project_id": other, "goal": "g"})),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    let (status, body) = api
        .request_as(
            &secret,
            Method::POST,
            "/v1/projects",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    let listed = token_command(&env, &["list"]).await;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listed = text(&listed.stdout);
    let line = listed
        .lines()
        .find(|l| l.starts_with("ci\t"))
        .unwrap_or_else(|| panic!("ci is listed: {listed}"));
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields[1], "runner", "{line}");
    assert!(fields[2].contains("payments"), "{line}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("test-admin\tadmin\t*\t")),
        "{listed}"
    );

    let unknown = token_command(&env, &["create", "--name", "x", "--project", "nope"]).await;
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("no project is named `nope`"),
        "{}",
        text(&unknown.stderr)
    );
    let scoped_admin = token_command(
        &env,
        &[
            "create",
            "--name",
            "y",
            "--role",
            "admin",
            "--project",
            &other,
        ],
    )
    .await;
    assert!(!scoped_admin.status.success());
    assert!(
        text(&scoped_admin.stderr).contains("can not be scoped"),
        "{}",
        text(&scoped_admin.stderr)
    );
    let both = token_command(
        &env,
        &["create", "--name", "z", "--admin", "--project", &other],
    )
    .await;
    assert!(!both.status.success(), "--admin with --project is refused");
    let bad_role = token_command(&env, &["create", "--name", "w", "--role", "root"]).await;
    assert!(!bad_role.status.success());
    let after = text(&token_command(&env, &["list"]).await.stdout);
    assert_eq!(after.lines().count(), 2, "only test-admin and ci: {after}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_existing_token_keeps_working_as_an_unscoped_reviewer_and_an_admin_stays_admin() {
    let mut env = TestEnv::migrated_until(5).await;
    // Tokens as the schema before roles stored them.
    env.sql(
        "INSERT INTO api_tokens (id, name, token_hash, admin) VALUES
           (gen_random_uuid(), 'old-user', encode(sha256('art_old_user'::bytea), 'hex'), false),
           (gen_random_uuid(), 'old-admin', encode(sha256('art_old_admin'::bytea), 'hex'), true)",
        &[],
    )
    .await;
    let applied = migrate::run(&env.pool).await.expect("migrate");
    assert!(applied.contains(&6), "{applied:?}");
    env.token = "art_old_admin".to_owned();

    let user = tokens::authenticate(&env.pool, "art_old_user")
        .await
        .expect("lookup")
        .expect("still live");
    assert_eq!((user.role, user.projects), (Role::Reviewer, None));
    let admin = tokens::authenticate(&env.pool, "art_old_admin")
        .await
        .expect("lookup")
        .expect("still live");
    assert_eq!((admin.role, admin.projects), (Role::Admin, None));

    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let (status, run) = api
        .request_as(
            "art_old_user",
            Method::POST,
            "/v1/runs",
            Some(json!({"project_id": project, "goal": "g"})),
        )
        .await;
    assert_eq!(status, 201, "the old token still submits: {run}");
    let id = run["id"].as_str().expect("run id");
    let (status, body) = api
        .request_as(
            "art_old_user",
            Method::POST,
            &format!("/v1/runs/{id}/approve"),
            None,
        )
        .await;
    assert_eq!(status, 409, "a reviewer reaches the state check: {body}");
    let (status, body) = api
        .request_as(
            "art_old_user",
            Method::POST,
            &format!("/v1/runs/{id}/exec"),
            Some(json!({"cmd": "true"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    api.stop().await;
}

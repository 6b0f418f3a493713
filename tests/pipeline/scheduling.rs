//! Admission against real services: a project's concurrency limit (its own
//! and the api's default) is never exceeded, counted from the runs' lease
//! rows; runs over it wait parked, acked and off the queue, while another
//! project's runs go first; fair share lets a small project through a big
//! one's backlog (and with `FAIR_SHARE=false` it does not); priorities
//! order a project's waiting runs; and every parked run says why it waits.

use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use uuid::Uuid;

async fn project_with(api: &ApiHandle, settings: Value) -> String {
    let (status, body) = api
        .post(
            "/v1/projects",
            json!({"name": format!("p-{}", Uuid::new_v4()), "settings": settings}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

/// Samples the project's RUNNING rows until stopped; returns the most seen.
fn watch_running(env: &TestEnv, project: &str) -> (Arc<AtomicBool>, tokio::task::JoinHandle<i64>) {
    let pool = env.pool.clone();
    let project: Uuid = project.parse().expect("uuid");
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let most = Arc::new(AtomicI64::new(0));
    let join = tokio::spawn(async move {
        let client = pool.get().await.expect("connection");
        while !stopped.load(Ordering::Relaxed) {
            let n: i64 = client
                .query_one(
                    "SELECT count(*) FROM runs WHERE project_id = $1 AND status = 'RUNNING'",
                    &[&project],
                )
                .await
                .expect("count")
                .get(0);
            most.fetch_max(n, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        most.load(Ordering::Relaxed)
    });
    (stop, join)
}

async fn count(env: &TestEnv, sql: &str, project: &str) -> i64 {
    let project: Uuid = project.parse().expect("uuid");
    env.sql(sql, &[&project]).await[0].get(0)
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const UNFINISHED: &str = "SELECT count(*) FROM runs WHERE project_id = $1
                          AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED')";
const PARKED: &str = "SELECT count(*) FROM runs WHERE project_id = $1 AND parked_at IS NOT NULL";

#[tokio::test]
async fn a_limited_project_never_exceeds_its_limit_and_another_project_goes_first() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[("SCHEDULER_INTERVAL_MS", "200")]).await;
    let big = project_with(&api, json!({"max_concurrent_runs": 2})).await;
    let small = api.project().await;
    let (stop, most) = watch_running(&env, &big);
    let mut big_runs = Vec::new();
    for _ in 0..500 {
        big_runs.push(api.submit(&big, json!({"step_delay_ms": 5})).await);
    }
    let mut small_runs = Vec::new();
    for _ in 0..5 {
        small_runs.push(api.submit(&small, json!({"step_delay_ms": 5})).await);
    }
    let worker_a = WorkerHandle::spawn(&env, &[("WORKER_CONCURRENCY", "4")]).await;
    let worker_b = WorkerHandle::spawn(&env, &[("WORKER_CONCURRENCY", "4")]).await;

    for run in &small_runs {
        api.wait_for(run, &["COMPLETED"], Duration::from_secs(60))
            .await;
    }
    let left = count(&env, UNFINISHED, &big).await;
    assert!(
        left > 400,
        "the small project finished first: {left} big runs left"
    );

    // The waiting runs hold no delivery: parked, acked, off the queue.
    let parked = count(&env, PARKED, &big).await;
    assert!(parked > 300, "{parked} parked");
    // (Unacked deliveries are bounded by the workers' prefetch, 8 in all.)
    let ready = env
        .rabbit
        .ready_count(&env.amqp_url, &format!("{}.work", env.prefix))
        .await;
    assert!(ready <= 10, "{ready} messages still ready on the queue");

    // A parked run says why, and how many of its project's runs go first.
    let (_, run) = api.get(&format!("/v1/runs/{}", big_runs[499])).await;
    assert_eq!(run["status"], "QUEUED", "{run}");
    assert_eq!(run["waiting"]["reason"], "project_limit", "{run}");
    assert_eq!(run["waiting"]["limit"], 2, "{run}");
    let ahead = run["waiting"]["position"].as_i64().expect("position");
    assert!(ahead > 300, "{run}");
    let (_, project) = api.get(&format!("/v1/projects/{big}")).await;
    let name = project["name"].as_str().expect("name");
    let detail = run["waiting"]["detail"].as_str().expect("detail");
    let running = run["waiting"]["running"].as_i64().expect("running");
    assert_eq!(
        detail,
        format!(
            "project {name} is at its concurrency limit: {running} of 2 running, and {ahead} runs \
             of the project are ahead of this one"
        )
    );

    wait_until(
        "every big run finished",
        Duration::from_secs(120),
        || async { count(&env, UNFINISHED, &big).await == 0 },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let most = most.await.expect("sampler");
    assert_eq!(most, 2, "at most 2 and at some time 2 running");
    let completed = count(
        &env,
        "SELECT count(*) FROM runs WHERE project_id = $1 AND status = 'COMPLETED'",
        &big,
    )
    .await;
    assert_eq!(completed, 500);
    worker_a.stop().await;
    worker_b.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn the_apis_default_limit_holds_projects_that_set_none() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(
        &env,
        &[
            ("DEFAULT_MAX_CONCURRENT_RUNS", "1"),
            ("SCHEDULER_INTERVAL_MS", "100"),
        ],
    )
    .await;
    let plain = api.project().await;
    let own = project_with(&api, json!({"max_concurrent_runs": 3})).await;
    let worker = WorkerHandle::spawn(&env, &[("WORKER_CONCURRENCY", "8")]).await;
    let (stop_plain, most_plain) = watch_running(&env, &plain);
    let (stop_own, most_own) = watch_running(&env, &own);
    for _ in 0..6 {
        api.submit(&plain, json!({"step_delay_ms": 40})).await;
        api.submit(&own, json!({"step_delay_ms": 40})).await;
    }
    wait_until(
        "both projects finished",
        Duration::from_secs(60),
        || async {
            count(&env, UNFINISHED, &plain).await + count(&env, UNFINISHED, &own).await == 0
        },
    )
    .await;
    stop_plain.store(true, Ordering::Relaxed);
    stop_own.store(true, Ordering::Relaxed);
    assert_eq!(most_plain.await.expect("sampler"), 1, "the default limit");
    assert_eq!(
        most_own.await.expect("sampler"),
        3,
        "the project's own limit"
    );
    worker.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn a_small_project_gets_its_fair_share_through_a_big_backlog() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[("SCHEDULER_INTERVAL_MS", "50")]).await;
    let big = api.project().await;
    let small = api.project().await;
    let worker = WorkerHandle::spawn(&env, &[("WORKER_CONCURRENCY", "4")]).await;
    let mut big_runs = Vec::new();
    for _ in 0..150 {
        big_runs.push(api.submit(&big, json!({"step_delay_ms": 25})).await);
    }
    // A lone project with a backlog gets no share: all slots are its own.
    assert_eq!(
        env.sql("SELECT count(*) FROM project_shares", &[]).await[0].get::<_, i64>(0),
        0
    );
    let mut small_runs = Vec::new();
    for _ in 0..5 {
        small_runs.push(api.submit(&small, json!({"step_delay_ms": 25})).await);
    }
    // First come, first served, the small runs would wait for all of these.
    let ahead = count(&env, UNFINISHED, &big).await;
    assert!(ahead > 20, "the big backlog was still there: {ahead} left");
    let mut saw_fair_share = false;
    for run in &small_runs {
        loop {
            let (_, body) = api.get(&format!("/v1/runs/{run}")).await;
            if body["status"] == "COMPLETED" {
                break;
            }
            let (_, last) = api.get(&format!("/v1/runs/{}", big_runs[149])).await;
            saw_fair_share |= last["waiting"]["reason"] == "fair_share";
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let left = count(&env, UNFINISHED, &big).await;
    assert!(
        left > ahead / 2,
        "the small project finished first: {left} of the {ahead} big runs ahead of it left"
    );
    assert!(saw_fair_share, "a big run said it waits for its fair share");
    wait_until(
        "every big run finished",
        Duration::from_secs(120),
        || async { count(&env, UNFINISHED, &big).await == 0 },
    )
    .await;
    wait_until("the shares are gone", Duration::from_secs(5), || async {
        env.sql("SELECT count(*) FROM project_shares", &[]).await[0].get::<_, i64>(0) == 0
    })
    .await;
    worker.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn with_fair_share_off_a_big_backlog_is_served_first_come_first_served() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(
        &env,
        &[("SCHEDULER_INTERVAL_MS", "50"), ("FAIR_SHARE", "false")],
    )
    .await;
    let big = api.project().await;
    let small = api.project().await;
    // A share left behind by an api that had fair share on is removed.
    let big_id: Uuid = big.parse().expect("uuid");
    env.sql(
        "INSERT INTO project_shares (project_id, slots) VALUES ($1, 1)",
        &[&big_id],
    )
    .await;
    wait_until(
        "the stale share is gone",
        Duration::from_secs(5),
        || async {
            env.sql("SELECT count(*) FROM project_shares", &[]).await[0].get::<_, i64>(0) == 0
        },
    )
    .await;
    // Queued before any worker consumes: 40 big runs, then 3 small ones.
    for _ in 0..40 {
        api.submit(&big, json!({"step_delay_ms": 10})).await;
    }
    let mut small_runs = Vec::new();
    for _ in 0..3 {
        small_runs.push(api.submit(&small, json!({"step_delay_ms": 10})).await);
    }
    let worker = WorkerHandle::spawn(&env, &[("WORKER_CONCURRENCY", "2")]).await;
    for run in &small_runs {
        loop {
            let shares: i64 = env.sql("SELECT count(*) FROM project_shares", &[]).await[0].get(0);
            assert_eq!(shares, 0, "no project is held to a share");
            let (_, body) = api.get(&format!("/v1/runs/{run}")).await;
            if body["status"] == "COMPLETED" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let left = count(&env, UNFINISHED, &big).await;
    assert!(
        left <= 2,
        "the small runs waited behind the big backlog, yet {left} big runs were unfinished"
    );
    worker.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn higher_priority_goes_first_among_a_projects_waiting_runs() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = project_with(&api, json!({"max_concurrent_runs": 1})).await;
    let worker = WorkerHandle::spawn(&env, &[("WORKER_CONCURRENCY", "8")]).await;
    let blocker = api.submit(&project, json!({"step_delay_ms": 60000})).await;
    api.wait_for(&blocker, &["RUNNING"], Duration::from_secs(10))
        .await;
    let mut waiting = Vec::new();
    for priority in [0, 0, -3, 5, 0, 5] {
        let id = api
            .submit_body(
                json!({"project_id": project, "goal": "g", "priority": priority,
                                "params": {"step_delay_ms": 1}}),
            )
            .await;
        waiting.push((priority, id));
    }
    wait_until("all six parked", Duration::from_secs(10), || async {
        count(&env, PARKED, &project).await == 6
    })
    .await;
    let (_, run) = api.get(&format!("/v1/runs/{}", waiting[3].1)).await;
    assert_eq!(run["priority"], 5);
    assert_eq!(run["waiting"]["position"], 0, "{run}");
    let (_, run) = api.get(&format!("/v1/runs/{}", waiting[2].1)).await;
    assert_eq!(run["waiting"]["position"], 5, "{run}");
    let (status, _) = api
        .post(&format!("/v1/runs/{blocker}/cancel"), json!({}))
        .await;
    assert_eq!(status, 202);
    for (_, id) in &waiting {
        api.wait_for(id, &["COMPLETED"], Duration::from_secs(30))
            .await;
    }
    let ids: Vec<Uuid> = waiting
        .iter()
        .map(|(_, id)| id.parse().expect("uuid"))
        .collect();
    let rows = env
        .sql(
            "SELECT id FROM runs WHERE id = ANY($1) ORDER BY started_at",
            &[&ids],
        )
        .await;
    let order: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    // 5 (older), 5, then the zeros by age, then -3.
    let expected = [ids[3], ids[5], ids[0], ids[1], ids[4], ids[2]];
    assert_eq!(order, expected);
    worker.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn bad_scheduling_values_get_422_naming_them() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    for (settings, key) in [
        (json!({"max_concurrent_runs": 0}), "max_concurrent_runs"),
        (json!({"max_concurrent_runs": "2"}), "max_concurrent_runs"),
        (json!({"weight": 0}), "weight"),
    ] {
        let (status, body) = api
            .request(
                reqwest::Method::PATCH,
                &format!("/v1/projects/{project}"),
                Some(json!({"settings": settings})),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(key),
            "{body}"
        );
    }
    for priority in [11, -11] {
        let (status, body) = api
            .post(
                "/v1/runs",
                json!({"project_id": project, "goal": "g", "priority": priority}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("priority"),
            "{body}"
        );
    }
    let (status, run) = api
        .post(
            "/v1/runs",
            json!({"project_id": project, "goal": "g", "priority": -10}),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["priority"], -10);
    api.stop().await;
}

/// Puts `tokens` of today's usage on the project's account.
async fn spend(env: &TestEnv, project: &str, tokens: i64) {
    let project: Uuid = project.parse().expect("uuid");
    env.sql(
        "INSERT INTO project_usage (project_id, day, tokens, calls)
         VALUES ($1, (clock_timestamp() AT TIME ZONE 'UTC')::date, $2, 1)",
        &[&project, &tokens],
    )
    .await;
}

#[tokio::test]
async fn a_run_that_would_start_over_budget_waits_or_fails_as_the_project_says() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[("SCHEDULER_INTERVAL_MS", "100")]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let waits = project_with(&api, json!({"token_budget_daily": 100})).await;
    spend(&env, &waits, 150).await;
    let first = api.submit(&waits, json!({"step_delay_ms": 1})).await;
    let second = api.submit(&waits, json!({"step_delay_ms": 1})).await;
    wait_until("both parked", Duration::from_secs(10), || async {
        count(&env, PARKED, &waits).await == 2
    })
    .await;
    let (_, run) = api.get(&format!("/v1/runs/{second}")).await;
    assert_eq!(run["status"], "QUEUED", "{run}");
    assert_eq!(run["waiting"]["reason"], "budget", "{run}");
    assert_eq!(run["waiting"]["position"], 1, "{run}");
    let detail = run["waiting"]["detail"].as_str().expect("detail");
    assert!(
        detail.contains("is over its daily token budget: used 150 of 100 tokens"),
        "{detail}"
    );
    // Still waiting a few scheduler passes later: no wake while over budget.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&env, PARKED, &waits).await, 2);

    let (status, body) = api
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/projects/{waits}"),
            Some(json!({"settings": {"token_budget_daily": 1000}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for run in [&first, &second] {
        api.wait_for(run, &["COMPLETED"], Duration::from_secs(10))
            .await;
    }

    let fails = project_with(
        &api,
        json!({"token_budget_monthly": 50, "over_budget": "fail"}),
    )
    .await;
    spend(&env, &fails, 60).await;
    let failed = api.submit(&fails, json!({"step_delay_ms": 1})).await;
    let run = api
        .wait_for(&failed, &["FAILED"], Duration::from_secs(10))
        .await;
    let (_, project) = api.get(&format!("/v1/projects/{fails}")).await;
    assert_eq!(
        run["error"],
        format!(
            "project {} is over its monthly token budget: used 60 of 50 tokens",
            project["name"].as_str().expect("name")
        )
    );
    assert_eq!(run["attempt"], 0, "no attempt started: {run}");
    let kinds = api.kinds(&failed).await;
    assert_eq!(kinds, ["RUN_CREATED", "RUN_FAILED"]);

    // A run waiting for the budget fails once the project says "fail".
    let switches = project_with(&api, json!({"token_budget_daily": 10})).await;
    spend(&env, &switches, 20).await;
    let parked = api.submit(&switches, json!({"step_delay_ms": 1})).await;
    wait_until("parked", Duration::from_secs(10), || async {
        count(&env, PARKED, &switches).await == 1
    })
    .await;
    let (status, body) = api
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/projects/{switches}"),
            Some(json!({"settings": {"token_budget_daily": 10, "over_budget": "fail"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run = api
        .wait_for(&parked, &["FAILED"], Duration::from_secs(10))
        .await;
    let error = run["error"].as_str().expect("error");
    assert!(
        error.ends_with("is over its daily token budget: used 20 of 10 tokens"),
        "{error}"
    );
    worker.stop().await;
    api.stop().await;
}

//! The worker's lease: a live worker's heartbeat keeps every run it holds
//! without rewriting their rows, a run whose worker's lease ran out (or
//! whose worker stopped, or started again under the same id) is taken over
//! at once, and a run's own long lease still brings back a run its live
//! worker no longer holds.

use agent_runner_store::claim::{self, Claim};
use agent_runner_store::projects::{self, NewProject};
use agent_runner_store::runs::{self, Created, NewRun};
use agent_runner_store::{Pool, workers};
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

const RUN_LEASE_S: f64 = 600.0;

async fn queued(env: &TestEnv) -> Uuid {
    let project = projects::create(
        &env.pool,
        &NewProject {
            name: format!("p-{}", Uuid::new_v4().simple()),
            repo_url: None,
            default_branch: "main".into(),
            settings: json!({}),
        },
    )
    .await
    .expect("project")
    .id;
    let new = NewRun {
        project_id: project,
        goal: "g".into(),
        agent: "simulated".into(),
        params: json!({}),
        max_attempts: 3,
        timeout_s: 60,
        priority: 0,
        idempotency: None,
        traceparent: None,
    };
    match runs::create(&env.pool, &new).await.expect("create") {
        Created::New { run, .. } => run.id,
        Created::Existing(_) => panic!("a new run"),
    }
}

async fn register(pool: &Pool, id: &str, lease_s: f64) {
    workers::register(pool, id, "host", 4, "127.0.0.1:1", None, lease_s)
        .await
        .expect("register");
}

fn claimed_by(claim: &Claim) -> Option<(i32, String)> {
    match claim {
        Claim::Claimed { run, .. } => {
            Some((run.attempt, run.worker_id.clone().unwrap_or_default()))
        }
        _ => None,
    }
}

#[tokio::test]
async fn a_run_is_held_while_its_worker_lease_lasts_and_taken_over_once_it_ends() {
    let env = TestEnv::new().await;
    let pool = &env.pool;
    register(pool, "w1", 60.0).await;
    let id = queued(&env).await;
    let first = claim::claim(pool, id, "w1", RUN_LEASE_S)
        .await
        .expect("claim");
    assert_eq!(claimed_by(&first), Some((1, "w1".into())));

    // Its worker is alive: the run is held.
    let again = claim::claim(pool, id, "w2", RUN_LEASE_S)
        .await
        .expect("claim");
    assert!(matches!(again, Claim::LeaseLive), "{again:?}");

    // Its worker stopped: its lease ended with it, though the run's own
    // lease has ten minutes left.
    workers::deregister(pool, "w1").await.expect("deregister");
    let taken = claim::claim(pool, id, "w2", RUN_LEASE_S)
        .await
        .expect("claim");
    assert_eq!(claimed_by(&taken), Some((2, "w2".into())));
}

#[tokio::test]
async fn a_worker_whose_lease_ran_out_loses_its_runs_and_one_started_under_its_id_holds_none() {
    let env = TestEnv::new().await;
    let pool = &env.pool;
    // A lease of 0.5 s that is never renewed: the worker died.
    register(pool, "dead", 0.5).await;
    let id = queued(&env).await;
    claim::claim(pool, id, "dead", RUN_LEASE_S)
        .await
        .expect("claim");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let taken = claim::claim(pool, id, "w2", RUN_LEASE_S)
        .await
        .expect("claim");
    assert_eq!(claimed_by(&taken), Some((2, "w2".into())));

    // A worker restarted under the same id holds nothing its predecessor
    // held: the run is free at once.
    register(pool, "again", 60.0).await;
    let other = queued(&env).await;
    claim::claim(pool, other, "again", RUN_LEASE_S)
        .await
        .expect("claim");
    register(pool, "again", 60.0).await;
    let taken = claim::claim(pool, other, "w2", RUN_LEASE_S)
        .await
        .expect("claim");
    assert_eq!(claimed_by(&taken), Some((2, "w2".into())));
}

#[tokio::test]
async fn a_run_its_live_worker_no_longer_renews_comes_back_when_its_own_lease_ends() {
    let env = TestEnv::new().await;
    let pool = &env.pool;
    register(pool, "w1", 60.0).await;
    let id = queued(&env).await;
    claim::claim(pool, id, "w1", 0.5).await.expect("claim");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let taken = claim::claim(pool, id, "w2", RUN_LEASE_S)
        .await
        .expect("claim");
    assert_eq!(claimed_by(&taken), Some((2, "w2".into())));
    // The first holder's heartbeat finds it lost.
    let renewal = claim::renew_leases(
        pool,
        "w1",
        &[claim::Held {
            run_id: id,
            attempt: 1,
        }],
        RUN_LEASE_S,
    )
    .await
    .expect("renew");
    assert_eq!(renewal.lost, [id]);
}

/// The run row's lease and the worker row's.
async fn rows(env: &TestEnv, run_id: &str, worker_id: &str) -> (String, String) {
    let client = env.pool.get().await.expect("client");
    let run_id: Uuid = run_id.parse().expect("uuid");
    let run = client
        .query_one(
            "SELECT lease_until::text FROM runs WHERE id = $1",
            &[&run_id],
        )
        .await
        .expect("run");
    let worker = client
        .query_one(
            "SELECT lease_until::text FROM workers WHERE id = $1",
            &[&worker_id],
        )
        .await
        .expect("worker");
    (run.get(0), worker.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeats_renew_the_workers_lease_and_leave_a_held_runs_row_alone() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[("HEARTBEAT_S", "0.2"), ("LEASE_S", "1")]).await;
    let project = api.project().await;
    let id = api.submit(&project, json!({"step_delay_ms": 1500})).await;
    let run = api
        .wait_for(&id, &["RUNNING"], Duration::from_secs(20))
        .await;
    let worker_id = run["worker_id"].as_str().expect("worker id").to_owned();
    // Let the events of the first step land, then watch a quiet second.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rows(&env, &id, &worker_id).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = rows(&env, &id, &worker_id).await;
    assert_ne!(before.1, after.1, "the worker's lease was renewed");
    assert_eq!(
        before.0, after.0,
        "the run's own lease was not rewritten by the heartbeats"
    );
    let run = api
        .wait_for(&id, &["COMPLETED", "FAILED"], Duration::from_secs(30))
        .await;
    assert_eq!(run["status"], "COMPLETED");
    worker.stop().await;
    api.stop().await;
}

/// The run row's version and the seconds left on its lease.
async fn lease_of(pool: &Pool, id: Uuid) -> (String, f64) {
    let client = pool.get().await.expect("client");
    let row = client
        .query_one(
            "SELECT xmin::text, extract(epoch FROM lease_until - clock_timestamp())::float8
             FROM runs WHERE id = $1",
            &[&id],
        )
        .await
        .expect("lease");
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_heartbeat_renews_a_run_lease_once_half_of_it_is_left_and_not_before() {
    let env = TestEnv::new().await;
    let pool = &env.pool;
    register(pool, "w1", 60.0).await;
    let id = queued(&env).await;
    // Claimed with a lease of 2 s: under half of the 600 s run lease left.
    claim::claim(pool, id, "w1", 2.0).await.expect("claim");
    let held = [claim::Held {
        run_id: id,
        attempt: 1,
    }];
    let renewal = claim::renew_leases(pool, "w1", &held, RUN_LEASE_S)
        .await
        .expect("renew");
    assert!(renewal.lost.is_empty());
    let (before, left) = lease_of(pool, id).await;
    assert!(
        left > RUN_LEASE_S - 5.0,
        "renewed to the run lease: {left} s left"
    );
    // Now more than half is left: the next heartbeat leaves the row alone.
    claim::renew_leases(pool, "w1", &held, RUN_LEASE_S)
        .await
        .expect("renew");
    let (after, _) = lease_of(pool, id).await;
    assert_eq!(after, before, "a lease not due is not rewritten");
}

//! Two workers started on one host without `WORKER_METRICS_ADDR` both run:
//! the second finds the default port taken and serves its probes on a free
//! one, which `/v1/workers` shows. A port set explicitly and taken still
//! stops start-up, naming the variable.

use agent_runner_agent::AgentRegistry;
use agent_runner_config::Env;
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use agent_runner_worker::{Worker, WorkerConfig};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_without_a_metrics_address_both_take_runs() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    // The default port is taken here whatever else runs on the machine.
    let _taken = std::net::TcpListener::bind("127.0.0.1:9090");
    // Empty is unset; one run at a time each, so both must work.
    let unset = [("WORKER_METRICS_ADDR", ""), ("WORKER_CONCURRENCY", "1")];
    let first = WorkerHandle::spawn(&env, &unset).await;
    let second = WorkerHandle::spawn(&env, &unset).await;
    assert_ne!(first.probe_url, second.probe_url);
    for worker in [&first, &second] {
        let health = reqwest::get(format!("{}/healthz", worker.probe_url))
            .await
            .expect("probe answers");
        assert!(health.status().is_success(), "{}", worker.probe_url);
    }

    let project = api.project().await;
    let mut runs = Vec::new();
    for _ in 0..4 {
        runs.push(api.submit(&project, json!({"step_delay_ms": 300})).await);
    }
    let mut ran_on = HashSet::new();
    for run in &runs {
        let done = api
            .wait_for(run, &["COMPLETED"], Duration::from_secs(60))
            .await;
        assert_eq!(done["status"], "COMPLETED", "{done}");
        ran_on.insert(done["worker_id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        ran_on,
        HashSet::from([first.id.clone(), second.id.clone()]),
        "both workers took runs"
    );

    let (status, listed) = api.get("/v1/workers").await;
    assert_eq!(status, 200, "{listed}");
    let shown: HashSet<String> = listed["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter_map(|w| w["metrics_addr"].as_str().map(|a| format!("http://{a}")))
        .collect();
    assert_eq!(
        shown,
        HashSet::from([first.probe_url.clone(), second.probe_url.clone()]),
        "{listed}"
    );
    first.stop().await;
    second.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn a_metrics_address_set_and_taken_stops_start_up_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let config = WorkerConfig::from_env(&Env::from_map([("WORKER_METRICS_ADDR", addr.as_str())]))
        .expect("config");
    let err = Worker::build(config, AgentRegistry::new())
        .await
        .err()
        .expect("a taken port stops start-up");
    assert!(
        format!("{err:#}").contains("WORKER_METRICS_ADDR"),
        "{err:#}"
    );
}

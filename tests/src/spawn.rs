//! In-process api and workers bound to a [`TestEnv`], with small HTTP helpers.

use crate::env::TestEnv;
use agent_runner_agent::AgentRegistry;
use agent_runner_agent::simulated::SimulatedAgent;
use agent_runner_api::{ApiConfig, Application};
use agent_runner_config::Env;
use agent_runner_worker::{ReviewSettings, Worker, WorkerConfig, agents};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running api.
pub struct ApiHandle {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Admin token for requests.
    pub token: String,
    /// HTTP client.
    pub http: reqwest::Client,
    stop: CancellationToken,
    join: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Settings every api and worker of `env` shares.
pub(crate) fn base_vars(env: &TestEnv) -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".into(), env.database_url.clone()),
        ("AMQP_URL".into(), env.amqp_url.clone()),
        ("QUEUE_PREFIX".into(), env.prefix.clone()),
        ("RETRY_BASE_MS".into(), "200".into()),
        ("RETRY_TIERS".into(), "6".into()),
        // The llm tests' repositories are directories of the test machine.
        ("AGENT_ALLOW_LOCAL_REPOS".into(), "true".into()),
    ]
}

fn merged(env: &TestEnv, overrides: &[(&str, &str)]) -> Env {
    let mut vars = base_vars(env);
    for (k, v) in overrides {
        vars.retain(|(key, _)| key != k);
        vars.push(((*k).to_owned(), (*v).to_owned()));
    }
    Env::from_map(vars)
}

impl ApiHandle {
    /// Starts an api on port 0 with `overrides` on top of the test settings.
    pub async fn spawn(env: &TestEnv, overrides: &[(&str, &str)]) -> Self {
        let mut all = vec![("API_ADDR", "127.0.0.1:0"), ("RELAY_INTERVAL_MS", "200")];
        all.extend_from_slice(overrides);
        let config = ApiConfig::from_env(&merged(env, &all)).expect("api config");
        let app = Application::build(config).await.expect("api builds");
        let base_url = format!("http://127.0.0.1:{}", app.port());
        let stop = CancellationToken::new();
        let signal = stop.clone();
        let join = tokio::spawn(app.run_until_stopped(async move { signal.cancelled().await }));
        let api = Self {
            base_url,
            token: env.token.clone(),
            // A stalled answer fails the test instead of hanging it.
            http: reqwest::Client::builder()
                .read_timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            stop,
            join: Some(join),
        };
        api.wait_ready().await;
        api
    }

    async fn wait_ready(&self) {
        for _ in 0..100 {
            let ready = self
                .http
                .get(format!("{}/readyz", self.base_url))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("api did not become ready");
    }

    /// Stops the api and waits for it.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(join) = self.join.take() {
            tokio::time::timeout(Duration::from_secs(60), join)
                .await
                .expect("the api stopped within 60 s")
                .expect("api task")
                .expect("api stopped cleanly");
        }
    }

    /// Sends a request with the admin token; returns status and JSON body.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.request_as(&self.token, method, path, body).await
    }

    /// Sends a request with `token`; returns status and JSON body.
    pub async fn request_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.expect("request sent");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// GET with the admin token.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, None).await
    }

    /// POST JSON with the admin token.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    /// Creates a project with a unique name; returns its id.
    pub async fn project(&self) -> String {
        let (status, body) = self
            .post(
                "/v1/projects",
                json!({"name": format!("p-{}", uuid::Uuid::new_v4())}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("project id").to_owned()
    }

    /// Submits a simulated run with `params`; returns the run id.
    pub async fn submit(&self, project_id: &str, params: Value) -> String {
        self.submit_body(json!({"project_id": project_id, "goal": "test goal", "params": params}))
            .await
    }

    /// Submits a run with a full body; returns the run id.
    pub async fn submit_body(&self, body: Value) -> String {
        let (status, body) = self.post("/v1/runs", body).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("run id").to_owned()
    }

    /// Polls until the run has one of `statuses`; returns the run.
    pub async fn wait_for(&self, run_id: &str, statuses: &[&str], timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (status, run) = self.get(&format!("/v1/runs/{run_id}")).await;
            assert_eq!(status, 200, "{run}");
            if statuses.contains(&run["status"].as_str().unwrap_or_default()) {
                return run;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {run_id} stuck in {}",
                run["status"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The run's events.
    pub async fn events(&self, run_id: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/v1/runs/{run_id}/events")).await;
        assert_eq!(status, 200, "{body}");
        body["events"].as_array().cloned().unwrap_or_default()
    }

    /// The kinds of the run's events, in order.
    pub async fn kinds(&self, run_id: &str) -> Vec<String> {
        self.events(run_id)
            .await
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// A running worker.
pub struct WorkerHandle {
    /// Worker id.
    pub id: String,
    /// `http://127.0.0.1:<port>` of its probe/metrics port.
    pub probe_url: String,
    stop: CancellationToken,
    join: Option<JoinHandle<anyhow::Result<()>>>,
}

impl WorkerHandle {
    /// Starts a worker with the simulated agent and `overrides`.
    pub async fn spawn(env: &TestEnv, overrides: &[(&str, &str)]) -> Self {
        Self::spawn_with(
            env,
            overrides,
            AgentRegistry::new().with(Arc::new(SimulatedAgent::new())),
        )
        .await
    }

    /// Starts a worker with every agent kind configured from `overrides`
    /// as the binary does from its environment (`LLM_BASE_URL`,
    /// `WORKSPACE_ROOT`, …), answering review and exec requests on its
    /// worktrees.
    pub async fn spawn_llm(env: &TestEnv, overrides: &[(&str, &str)]) -> Self {
        let (agents, review) =
            agents::from_env(&merged(env, overrides), false).expect("llm config");
        Self::spawn_configured(env, overrides, agents, Some(review)).await
    }

    /// Starts a worker with the given agents.
    pub async fn spawn_with(
        env: &TestEnv,
        overrides: &[(&str, &str)],
        agents: AgentRegistry,
    ) -> Self {
        Self::spawn_configured(env, overrides, agents, None).await
    }

    async fn spawn_configured(
        env: &TestEnv,
        overrides: &[(&str, &str)],
        agents: AgentRegistry,
        review: Option<ReviewSettings>,
    ) -> Self {
        let id = format!("w-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let mut all = vec![
            ("WORKER_ID", id.as_str()),
            ("WORKER_METRICS_ADDR", "127.0.0.1:0"),
            ("LEASE_S", "4"),
            ("HEARTBEAT_S", "1"),
            ("SHUTDOWN_GRACE_S", "10"),
        ];
        all.extend_from_slice(overrides);
        let config = WorkerConfig::from_env(&merged(env, &all)).expect("worker config");
        let mut worker = Worker::build(config, agents).await.expect("worker builds");
        if let Some(review) = review {
            worker = worker.with_review(review);
        }
        let probe_url = format!("http://{}", worker.probe_addr());
        let stop = CancellationToken::new();
        let signal = stop.clone();
        let join = tokio::spawn(worker.run_until_stopped(async move { signal.cancelled().await }));
        Self {
            id,
            probe_url,
            stop,
            join: Some(join),
        }
    }

    /// Waits until the worker consumes its own queue (it takes review and
    /// exec requests from then on).
    pub async fn wait_consuming(&self, env: &TestEnv) {
        let queue = format!("{}.worker.{}", env.prefix, self.id);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let info = env.rabbit.queue_info(&queue).await;
            if info["consumers"].as_u64().unwrap_or(0) >= 1 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "worker {} never consumed {queue}: {info}",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asks the worker to shut down (as SIGTERM does) and waits for it.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(join) = self.join.take() {
            tokio::time::timeout(Duration::from_secs(60), join)
                .await
                .expect("the worker stopped within 60 s")
                .expect("worker task")
                .expect("worker stopped cleanly");
        }
    }

    /// Asks the worker to shut down without waiting.
    pub fn begin_stop(&self) {
        self.stop.cancel();
    }

    /// Waits for a stop begun with [`WorkerHandle::begin_stop`].
    pub async fn join(mut self) {
        if let Some(join) = self.join.take() {
            join.await
                .expect("worker task")
                .expect("worker stopped cleanly");
        }
    }
}

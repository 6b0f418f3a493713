//! The few api calls the bench makes: wait for `/readyz`, create a project
//! (with settings), submit a run, show a run. Each [`Api`] owns its own HTTP/1.1 client, so
//! a task holding one holds exactly one keep-alive connection.

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Longest a single request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A client of one api, with one connection.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    auth: String,
}

/// The part of a run the bench reads back.
#[derive(Debug, Deserialize)]
struct Created {
    id: Uuid,
}

impl Api {
    /// A client of the api at `base` (`http://127.0.0.1:port`) using `token`.
    pub fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            base: base.to_owned(),
            auth: format!("Bearer {token}"),
        })
    }

    /// Waits until `/readyz` answers 200, failing after `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            match self.http.get(format!("{}/readyz", self.base)).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
                Err(err) => last = err.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the api was not ready after {timeout:?} ({last})")
    }

    /// Creates a project (with `settings`, if any) and returns its id.
    pub async fn create_project(
        &self,
        name: &str,
        settings: Option<&serde_json::Value>,
    ) -> anyhow::Result<Uuid> {
        let mut body = json!({"name": name});
        if let Some(settings) = settings {
            body["settings"] = settings.clone();
        }
        let response = self
            .http
            .post(format!("{}/v1/projects", self.base))
            .header("authorization", &self.auth)
            .json(&body)
            .send()
            .await
            .context("POST /v1/projects failed")?;
        created_id(response)
            .await
            .context("cannot create the bench project")
    }

    /// Submits one run of the simulated agent, pausing `step_delay_ms` after
    /// each of its three steps (0 for lifecycle-5).
    pub async fn submit_run(&self, project_id: Uuid, step_delay_ms: u64) -> anyhow::Result<Uuid> {
        let response = self
            .http
            .post(format!("{}/v1/runs", self.base))
            .header("authorization", &self.auth)
            .json(&json!({
                "project_id": project_id,
                "goal": "bench",
                "agent": "simulated",
                "params": {"step_delay_ms": step_delay_ms},
            }))
            .send()
            .await
            .context("POST /v1/runs failed")?;
        created_id(response).await
    }

    /// `GET /v1/runs/{id}`; fails unless 200.
    pub async fn show_run(&self, id: Uuid) -> anyhow::Result<()> {
        let response = self
            .http
            .get(format!("{}/v1/runs/{id}", self.base))
            .header("authorization", &self.auth)
            .send()
            .await
            .context("GET /v1/runs/{id} failed")?;
        let status = response.status();
        // Read the whole body: that is part of what a client waits for.
        let body = response.bytes().await.context("cannot read the run")?;
        if !status.is_success() {
            bail!(
                "GET /v1/runs/{id}: {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(())
    }
}

async fn created_id(response: reqwest::Response) -> anyhow::Result<Uuid> {
    let status = response.status();
    if status != reqwest::StatusCode::CREATED {
        let body = response.text().await.unwrap_or_default();
        bail!("expected 201, got {status}: {body}");
    }
    let created: Created = response.json().await.context("the 201 body has no id")?;
    Ok(created.id)
}

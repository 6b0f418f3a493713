//! One system under test per scenario: a fresh database on the private
//! PostgreSQL (migrated, with an admin token and a project), a fresh queue
//! prefix on the private RabbitMQ, the api and the workers as real
//! processes, and the operations the scenarios need on them (SIGKILL,
//! SIGTERM, replacing workers that died).

use agent_runner_fleet::{Launcher, Proc, free_local_addr};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

/// Worker settings every scenario shares: short leases so orphans recover
/// in seconds.
pub const LEASE_S: u64 = 4;

/// How a scenario wants its system.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Worker processes.
    pub workers: usize,
    /// `WORKER_CONCURRENCY`.
    pub concurrency: u16,
    /// Lets `fail: "crash"` abort workers.
    pub crash_faults: bool,
    /// Heartbeats every 5 s (leases of 15 s) instead of every second, so
    /// that only the cancel NOTIFY can stop a run within 2 s.
    pub slow_heartbeat: bool,
}

impl Shape {
    /// Three workers running six runs each, crash faults off.
    pub fn standard() -> Self {
        Self {
            workers: 3,
            concurrency: 6,
            crash_faults: false,
            slow_heartbeat: false,
        }
    }
}

/// A running system under test.
pub struct Sut {
    /// Database name and queue prefix.
    pub name: String,
    /// URL of its database.
    pub database_url: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The api's address (a restarted api listens there again).
    addr: SocketAddr,
    /// Admin token.
    pub token: String,
    /// The project runs go to.
    pub project: Uuid,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The api process.
    pub api: Option<Proc>,
    /// The worker processes, with their index.
    pub workers: Vec<(usize, Proc)>,
    /// Worker processes started to replace ones that died.
    pub replaced: u32,
    launcher: Launcher,
    shape: Shape,
    next_worker: usize,
    admin_url: String,
}

impl Sut {
    /// Creates the database, migrates it and starts the api and workers.
    pub async fn start(
        name: &str,
        admin_url: &str,
        database_url: String,
        amqp_url: String,
        bin_dir: PathBuf,
        log_dir: PathBuf,
        shape: Shape,
    ) -> anyhow::Result<Self> {
        let admin = connect(admin_url).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .context("cannot create the scenario's database")?;
        let mut env: Vec<(String, String)> = [
            ("RUST_LOG", "info"),
            ("RETRY_BASE_MS", "200"),
            ("RETRY_TIERS", "6"),
            ("DELIVERY_LIMIT", "5"),
            ("RELAY_INTERVAL_MS", "500"),
            ("REAPER_INTERVAL_MS", "1000"),
            ("REAPER_LEASE_GRACE_S", "5"),
            ("REAPER_QUEUED_AFTER_S", "30"),
            ("SHUTDOWN_GRACE_S", "10"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (heartbeat_s, lease_s) = if shape.slow_heartbeat {
            (5, 15)
        } else {
            (1, LEASE_S)
        };
        env.push(("HEARTBEAT_S".into(), heartbeat_s.to_string()));
        env.push(("LEASE_S".into(), lease_s.to_string()));
        env.push((
            "SIMULATED_CRASH_FAULTS".into(),
            shape.crash_faults.to_string(),
        ));
        let launcher = Launcher {
            bin_dir,
            log_dir,
            name: name.to_owned(),
            database_url: database_url.clone(),
            amqp_url,
            env,
        };
        launcher.api_command(&["migrate"]).await?;
        let token = launcher
            .api_command(&["token", "create", "--name", "chaos", "--admin"])
            .await?;
        let addr: SocketAddr = free_local_addr()?;
        let api = launcher.spawn_api(addr)?;
        let mut sut = Self {
            name: name.to_owned(),
            database_url,
            base: format!("http://{addr}"),
            addr,
            token,
            project: Uuid::nil(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            api: Some(api),
            workers: Vec::new(),
            replaced: 0,
            launcher,
            shape,
            next_worker: 0,
            admin_url: admin_url.to_owned(),
        };
        sut.wait_healthy().await?;
        sut.project = sut.create_project().await?;
        for _ in 0..sut.shape.workers {
            sut.spawn_worker()?;
        }
        Ok(sut)
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        for _ in 0..200 {
            if self.ready().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the api did not become ready; see its log")
    }

    /// Whether `/readyz` answers 200.
    pub async fn ready(&self) -> bool {
        let url = format!("{}/readyz", self.base);
        matches!(self.http.get(&url).send().await, Ok(r) if r.status().is_success())
    }

    async fn create_project(&self) -> anyhow::Result<Uuid> {
        let response = self
            .http
            .post(format!("{}/v1/projects", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"name": self.name}))
            .send()
            .await?;
        let body: Value = response.json().await?;
        body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("no project id in {body}"))
    }

    /// Starts one more worker.
    pub fn spawn_worker(&mut self) -> anyhow::Result<String> {
        let index = self.next_worker;
        self.next_worker += 1;
        let proc = self.launcher.spawn_worker(index, self.shape.concurrency)?;
        self.workers.push((index, proc));
        Ok(self.launcher.worker_id(index))
    }

    /// SIGKILLs the worker holding the most RUNNING runs (any if none).
    pub async fn kill_busiest_worker(&mut self) -> anyhow::Result<String> {
        let db = connect(&self.database_url).await?;
        let busiest: Option<String> = db
            .query_opt(
                "SELECT worker_id FROM runs WHERE status = 'RUNNING'
                 GROUP BY worker_id ORDER BY count(*) DESC LIMIT 1",
                &[],
            )
            .await?
            .and_then(|row| row.get(0));
        let position = self
            .workers
            .iter()
            .position(|(i, _)| Some(self.launcher.worker_id(*i)) == busiest)
            .unwrap_or(0);
        let (index, proc) = self.workers.remove(position);
        proc.kill().await?;
        Ok(self.launcher.worker_id(index))
    }

    /// SIGTERMs every worker and waits for them to exit; returns the ones
    /// that did not exit 0 in time.
    pub async fn terminate_workers(&mut self, limit: Duration) -> Vec<String> {
        let mut unclean = Vec::new();
        for (_, proc) in &mut self.workers {
            if let Err(err) = proc.terminate().await {
                eprintln!("chaos: {err:#}");
            }
        }
        for (index, mut proc) in std::mem::take(&mut self.workers) {
            match proc.wait_for_exit(limit).await {
                Some(status) if status.success() => {}
                other => {
                    unclean.push(format!("{} ({other:?})", self.launcher.worker_id(index)));
                    let _killed = proc.kill().await;
                }
            }
        }
        unclean
    }

    /// Replaces workers that exited (as a deployment would); returns how
    /// many it replaced.
    pub fn replace_dead_workers(&mut self) -> anyhow::Result<u32> {
        let before = self.workers.len();
        self.workers.retain_mut(|(_, proc)| proc.exited().is_none());
        let dead = before - self.workers.len();
        for _ in 0..dead {
            self.spawn_worker()?;
        }
        self.replaced += dead as u32;
        Ok(dead as u32)
    }

    /// Stops the api — SIGTERM and a wait for its exit (at most `limit`),
    /// or SIGKILL when `crash` — waits `down_for`, starts a new api on the
    /// same address and waits until it is ready. Returns how the old one
    /// exited: `None` when it ignored SIGTERM past `limit` (then killed).
    pub async fn restart_api(
        &mut self,
        crash: bool,
        limit: Duration,
        down_for: Duration,
    ) -> anyhow::Result<Option<std::process::ExitStatus>> {
        let mut api = self.api.take().context("no api is running")?;
        let exited = if crash {
            Some(api.kill().await?)
        } else {
            api.terminate().await?;
            match api.wait_for_exit(limit).await {
                Some(status) => Some(status),
                None => {
                    let _killed = api.kill().await;
                    None
                }
            }
        };
        tokio::time::sleep(down_for).await;
        self.api = Some(self.launcher.spawn_api(self.addr)?);
        self.wait_healthy().await?;
        Ok(exited)
    }

    /// Whether the api process still runs.
    pub fn api_alive(&mut self) -> bool {
        self.api.as_mut().is_some_and(|api| api.exited().is_none())
    }

    /// A fresh connection to the scenario's database.
    pub async fn db(&self) -> anyhow::Result<Client> {
        connect(&self.database_url).await
    }

    /// Stops every process and drops the database.
    pub async fn teardown(mut self, keep: bool) {
        let workers = std::mem::take(&mut self.workers);
        futures_util::future::join_all(workers.into_iter().map(|(_, p)| p.kill())).await;
        if let Some(api) = self.api.take() {
            let _killed = api.kill().await;
        }
        if keep {
            return;
        }
        if let Ok(admin) = connect(&self.admin_url).await {
            let _dropped = admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}

/// Connects to PostgreSQL, driving the connection on a task.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    tokio::spawn(async move {
        let _ended = connection.await;
    });
    Ok(client)
}

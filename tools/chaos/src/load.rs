//! The load: runs submitted at a steady rate by a well-behaved client (an
//! `Idempotency-Key` per run, retries on 503 and connection errors until
//! accepted), a reader polling the run list, and every HTTP answer recorded
//! with its time so the verdict can tell outage answers from the rest.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Seconds since the epoch, as PostgreSQL's `extract(epoch ...)` gives them.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One HTTP answer: when, and its status (0 for a transport error).
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// When it came.
    pub at: f64,
    /// Status code, or 0 when there was no HTTP answer.
    pub status: u16,
}

/// Every answer the load and the reader got.
#[derive(Debug, Clone, Default)]
pub struct Answers(Arc<Mutex<Vec<Answer>>>);

impl Answers {
    fn record(&self, status: u16) {
        if let Ok(mut answers) = self.0.lock() {
            answers.push(Answer { at: now(), status });
        }
    }

    /// A copy of what was recorded.
    pub fn all(&self) -> Vec<Answer> {
        self.0.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

/// Where and how to submit.
#[derive(Clone)]
pub struct Client {
    /// HTTP client.
    pub http: reqwest::Client,
    /// Api base URL.
    pub base: String,
    /// Bearer token.
    pub token: String,
    /// Project id.
    pub project: Uuid,
    /// Answers seen.
    pub answers: Answers,
    /// Submissions never accepted (refused with a 4xx, or given up on).
    pub refused: Arc<AtomicUsize>,
}

/// How long a client keeps retrying one submission.
const GIVE_UP: Duration = Duration::from_secs(120);

impl Client {
    /// Submits one run, retrying 503s and transport errors until accepted.
    /// `None` when it was refused for good (a 4xx, or the give-up time).
    pub async fn submit(&self, params: Value, max_attempts: Option<u32>) -> Option<Uuid> {
        let accepted = self.try_submit(params, max_attempts).await;
        if accepted.is_none() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        accepted
    }

    /// How many submissions were never accepted.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }

    async fn try_submit(&self, params: Value, max_attempts: Option<u32>) -> Option<Uuid> {
        let key = Uuid::new_v4().to_string();
        let mut body = json!({"project_id": self.project, "goal": "chaos", "params": params});
        if let Some(n) = max_attempts {
            body["max_attempts"] = json!(n);
        }
        let started = tokio::time::Instant::now();
        while started.elapsed() < GIVE_UP {
            let sent = self
                .http
                .post(format!("{}/v1/runs", self.base))
                .bearer_auth(&self.token)
                .header("Idempotency-Key", &key)
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    self.answers.record(status);
                    if status == 201 || status == 200 {
                        let run: Value = response.json().await.ok()?;
                        return run["id"].as_str().and_then(|s| s.parse().ok());
                    }
                    if status != 503 && status < 500 {
                        eprintln!("chaos: submission refused with {status}");
                        return None;
                    }
                }
                Err(_) => self.answers.record(0),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        None
    }

    /// Asks for a cancel; the answer's status (0 on a transport error).
    pub async fn cancel(&self, id: Uuid) -> u16 {
        let sent = self
            .http
            .post(format!("{}/v1/runs/{id}/cancel", self.base))
            .bearer_auth(&self.token)
            .send()
            .await;
        let status = sent.map(|r| r.status().as_u16()).unwrap_or(0);
        self.answers.record(status);
        status
    }

    /// Submits `n` runs at `rate` per second; returns the accepted ids.
    pub async fn submit_many(&self, n: usize, rate: f64, params: Value) -> Vec<Uuid> {
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
            let client = self.clone();
            let params = params.clone();
            tasks.push(tokio::spawn(
                async move { client.submit(params, None).await },
            ));
        }
        let mut ids = Vec::with_capacity(n);
        for task in tasks {
            if let Ok(Some(id)) = task.await {
                ids.push(id);
            }
        }
        ids
    }

    /// Polls `GET /v1/runs` every 200 ms until stopped, recording answers.
    pub fn spawn_reader(&self) -> (CancellationToken, JoinHandle<()>) {
        let stop = CancellationToken::new();
        let client = self.clone();
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            while !flag.is_cancelled() {
                let sent = client
                    .http
                    .get(format!("{}/v1/runs?limit=5", client.base))
                    .bearer_auth(&client.token)
                    .send()
                    .await;
                client
                    .answers
                    .record(sent.map(|r| r.status().as_u16()).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        (stop, task)
    }
}

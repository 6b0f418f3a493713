//! Waiting for a request the api handed to a run's worker: approve, reject
//! and exec are carried out by the worker holding the run's worktree, and
//! when it takes longer than the api waits, the api answers 202 with the URL
//! of the request. That URL is polled here until the request is DONE (or
//! FAILED, an error with the worker's reason), for a bounded time.
//!
//! Nothing is shown here except the spinner; the commands print the answer.

use crate::client::ApiClient;
use crate::exit::CliError;
use crate::model::{DONE, PENDING, RunRequest};
use crate::spinner::Spinner;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// Delay between two polls of the request.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Failed polls in a row (5xx, no answer) before giving up.
const MAX_FAILURES: u32 = 5;
/// A request the api answered 202 for: still with the worker.
#[derive(Debug)]
pub struct Handed {
    /// Request id.
    pub id: String,
    /// The worker carrying it out.
    pub worker_id: String,
    /// Path to poll, `/v1/runs/{id}/requests/{request_id}`.
    pub poll: String,
}

impl Handed {
    /// Reads a 202 body `{"request": {...}, "poll": "/v1/..."}` for run `run_id`.
    pub fn from_body(run_id: Uuid, body: &Value) -> Result<Self, CliError> {
        let request: RunRequest = body
            .get("request")
            .and_then(|r| serde_json::from_value(r.clone()).ok())
            .filter(|r: &RunRequest| !r.id.is_empty())
            .ok_or_else(|| {
                CliError::Client(format!(
                    "the api answered 202 without the request to wait for: {body}"
                ))
            })?;
        // The api gives a path; anything else is rebuilt from the ids rather
        // than sent (with the token) wherever it points.
        let poll = body
            .get("poll")
            .and_then(Value::as_str)
            .filter(|p| p.starts_with("/v1/"))
            .map_or_else(
                || format!("/v1/runs/{run_id}/requests/{}", request.id),
                str::to_owned,
            );
        Ok(Handed {
            id: request.id,
            worker_id: request.worker_id,
            poll,
        })
    }
}

/// Polls `handed` until the worker answers, for at most `limit`. Returns the
/// request (DONE) as the api shows it; a FAILED request is an error giving
/// the worker's reason (exit 4, as the api's 409 for it would be).
pub async fn wait(
    client: &ApiClient,
    handed: &Handed,
    spinner: &mut Spinner,
    limit: Duration,
) -> Result<Value, CliError> {
    let deadline = Instant::now() + limit;
    let state = format!("waiting for worker {}", handed.worker_id);
    let mut failures = 0u32;
    loop {
        match client.get(&handed.poll, &[]).await {
            Ok(body) => {
                failures = 0;
                let request: RunRequest = serde_json::from_value(body.clone()).map_err(|err| {
                    CliError::Client(format!(
                        "the api answered with something that is not a request: {err}"
                    ))
                })?;
                if request.status == DONE {
                    spinner.clear();
                    return Ok(body);
                }
                if request.status != PENDING {
                    spinner.clear();
                    let why = request
                        .error
                        .unwrap_or_else(|| "no reason given".to_owned());
                    return Err(CliError::Client(format!(
                        "worker {} could not carry out request {}: {why}",
                        handed.worker_id, handed.id
                    )));
                }
            }
            Err(err) if err.is_transient() && failures + 1 < MAX_FAILURES => failures += 1,
            Err(err) => return Err(err),
        }
        if Instant::now() + POLL_INTERVAL > deadline {
            spinner.clear();
            return Err(CliError::NoAnswer(format!(
                "worker {} has not answered request {} after {} s; it may still do so: GET {}",
                handed.worker_id,
                handed.id,
                limit.as_secs(),
                handed.poll
            )));
        }
        spinner.pause(POLL_INTERVAL, &state).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RUN: &str = "0190a1b2-c3d4-7e5f-8a9b-000000000001";

    fn run_id() -> Uuid {
        Uuid::parse_str(RUN).expect("uuid")
    }

    #[test]
    fn a_202_gives_the_request_and_the_path_to_poll() {
        let body = json!({
            "request": {"id": "r-1", "worker_id": "w-1", "status": "PENDING"},
            "poll": format!("/v1/runs/{RUN}/requests/r-1"),
        });
        let handed = Handed::from_body(run_id(), &body).expect("handed");
        assert_eq!(handed.id, "r-1");
        assert_eq!(handed.worker_id, "w-1");
        assert_eq!(handed.poll, format!("/v1/runs/{RUN}/requests/r-1"));
    }

    #[test]
    fn a_poll_url_that_is_not_an_api_path_is_rebuilt_from_the_ids() {
        let body = json!({
            "request": {"id": "r-1", "worker_id": "w-1"},
            "poll": "https://elsewhere.example/steal",
        });
        let handed = Handed::from_body(run_id(), &body).expect("handed");
        assert_eq!(handed.poll, format!("/v1/runs/{RUN}/requests/r-1"));
    }

    #[test]
    fn a_202_without_a_request_is_an_error() {
        assert!(Handed::from_body(run_id(), &json!({"poll": "/v1/x"})).is_err());
    }
}

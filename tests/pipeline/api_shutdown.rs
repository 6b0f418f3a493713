//! Graceful drain of the api process on SIGTERM: it stops accepting at once,
//! lets in-flight requests finish for `SHUTDOWN_GRACE_S`, and exits 0 no later
//! than that, even when a request is still running.
//!
//! The slow request is a real one: the live event stream
//! (`GET /v1/runs/{id}/events/stream`), which ends only once the run does.
//! An in-process api and worker do the rest of the work; the api under test
//! is the binary, so the signal, the socket and the exit status are real.

use crate::stream::parse_sse;
use agent_runner_tests::{ApiHandle, ApiProcess, TestEnv, WorkerHandle};
use serde_json::json;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Opens the run's event stream on `process` and reads it until `event` has
/// arrived; the rest of the body is read by the returned task.
async fn open_stream(
    api: &ApiHandle,
    process: &ApiProcess,
    run_id: &str,
    event: &str,
) -> JoinHandle<Result<String, reqwest::Error>> {
    let mut response = api
        .http
        .get(format!(
            "{}/v1/runs/{run_id}/events/stream",
            process.base_url
        ))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("stream opened");
    assert_eq!(response.status(), 200);
    let wanted = format!("event: {event}\n");
    let mut body = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&body).contains(&wanted) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {event} on the stream within 20 s"))
            .expect("stream readable")
            .expect("the stream is still open");
        body.extend_from_slice(&chunk);
    }
    tokio::spawn(async move {
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    })
}

/// True once a connection to `addr` is refused, trying for at most `within`.
async fn refused_within(addr: SocketAddr, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match tokio::net::TcpStream::connect(addr).await {
            Err(err) if err.kind() == ErrorKind::ConnectionRefused => return true,
            // Accepted by the kernel before the listener closed: try again.
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_an_in_flight_event_stream_finish_refuses_new_connections_and_exits_0() {
    let grace = Duration::from_secs(20);
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let mut process = ApiProcess::spawn(&env, &[("SHUTDOWN_GRACE_S", "20")]).await;
    let project = api.project().await;
    // Three pauses of 2 s after AGENT_THINKING: the stream has that long to go.
    let id = api.submit(&project, json!({"step_delay_ms": 2000})).await;
    let stream = open_stream(&api, &process, &id, "AGENT_THINKING").await;

    process.terminate();
    let signalled = Instant::now();
    assert!(
        refused_within(process.addr, Duration::from_secs(4)).await,
        "new connections are still accepted 4 s after SIGTERM"
    );
    assert!(
        !stream.is_finished(),
        "the stream ended before new connections were refused; the test proves nothing"
    );

    let body = tokio::time::timeout(grace, stream)
        .await
        .expect("the stream ends within the grace period")
        .expect("stream task")
        .expect("the in-flight stream completed instead of being cut");
    let kinds: Vec<String> = parse_sse(&body).into_iter().map(|(_, k)| k).collect();
    assert_eq!(
        kinds,
        [
            "RUN_CREATED",
            "RUN_STARTED",
            "AGENT_THINKING",
            "PLAN_GENERATED",
            "EXECUTING",
            "RUN_COMPLETED"
        ],
        "the stream carried the run to its end"
    );

    let status = process
        .wait_exit(grace.saturating_sub(signalled.elapsed()))
        .await
        .unwrap_or_else(|| panic!("still running after the grace period:\n{}", process.logs()));
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        process.logs()
    );
    assert!(process.logged("api stopped"), "{}", process.logs());
    assert!(
        !process.logged("requests still in flight after the grace period"),
        "the drain was cut short:\n{}",
        process.logs()
    );
    let run = api
        .wait_for(&id, &["COMPLETED"], Duration::from_secs(5))
        .await;
    assert_eq!(run["attempt"], 1);
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_still_running_when_the_grace_period_ends_does_not_keep_the_api_alive() {
    let grace = Duration::from_secs(1);
    let margin = Duration::from_secs(5);
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let mut process = ApiProcess::spawn(&env, &[("SHUTDOWN_GRACE_S", "1")]).await;
    let project = api.project().await;
    // No worker: the run stays QUEUED and its stream never ends on its own.
    let id = api.submit(&project, json!({"step_delay_ms": 0})).await;
    let stream = open_stream(&api, &process, &id, "RUN_CREATED").await;

    process.terminate();
    let signalled = Instant::now();
    let status = process.wait_exit(grace + margin).await.unwrap_or_else(|| {
        panic!(
            "still running {:?} after SIGTERM with SHUTDOWN_GRACE_S=1:\n{}",
            grace + margin,
            process.logs()
        )
    });
    let took = signalled.elapsed();
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        process.logs()
    );
    assert!(
        took >= grace,
        "exited after {took:?}, before the stream had its grace period"
    );
    assert!(
        process.logged("requests still in flight after the grace period"),
        "{}",
        process.logs()
    );
    let cut = tokio::time::timeout(Duration::from_secs(5), stream)
        .await
        .expect("the stream ends with the process")
        .expect("stream task");
    assert!(
        cut.is_err(),
        "the stream was ended as if complete, not cut: {cut:?}"
    );
    let (_, run) = api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(run["status"], "QUEUED");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_that_never_sent_a_request_does_not_hold_up_the_shutdown() {
    let env = TestEnv::new().await;
    // Both limits far beyond the wait below: only closing the silent
    // connection at once lets the process exit in time.
    let mut process = ApiProcess::spawn(
        &env,
        &[
            ("SHUTDOWN_GRACE_S", "120"),
            ("HEADER_READ_TIMEOUT_S", "600"),
        ],
    )
    .await;
    let addr = process
        .base_url
        .trim_start_matches("http://")
        .parse::<SocketAddr>()
        .expect("api address");
    let silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // Let the api accept it before the signal.
    tokio::time::sleep(Duration::from_millis(200)).await;

    process.terminate();
    let status = process
        .wait_exit(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| {
            panic!(
                "a connection that sent nothing kept the api alive:\n{}",
                process.logs()
            )
        });
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        process.logs()
    );
    drop(silent);
}

//! How the agent copes with an endpoint that fails, stalls or is not there.

use crate::fake_llm::{Scripted, finish};
use crate::helpers::{Harness, fatal_reason};
use agent_runner_agent::AgentError;
use agent_runner_coding_agent::RetryConfig;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_and_the_run_succeeds() {
    let h = Harness::new(
        vec![Scripted::Status(429, Some(1)), finish("c1", "Done.")],
        None,
    )
    .await;
    let started = Instant::now();
    let (result, _) = h.execute(&h.run("Do it")).await;
    result.expect("the run succeeds");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 is honoured"
    );
    assert_eq!(h.llm.bodies().len(), 2);
}

#[tokio::test]
async fn a_500_on_every_call_is_transient_after_the_retries() {
    let h = Harness::new(vec![], Some(Scripted::Status(500, None))).await;
    let (result, _) = h.execute(&h.run("Do it")).await;
    match result {
        Err(AgentError::Transient(reason)) => assert!(reason.contains("HTTP 500"), "{reason}"),
        other => panic!("expected a transient error, got {other:?}"),
    }
    assert_eq!(h.llm.bodies().len(), 1 + 3, "one attempt and three retries");
}

#[tokio::test]
async fn a_hanging_endpoint_times_out_and_is_transient() {
    let mut h = Harness::new(vec![], Some(Scripted::Hang)).await;
    h.config.llm.request_timeout = Duration::from_millis(300);
    h.config.llm.retry.max_retries = 1;
    let started = Instant::now();
    let (result, _) = h.execute(&h.run("Do it")).await;
    match result {
        Err(AgentError::Transient(reason)) => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("expected a transient error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(h.llm.bodies().len(), 2);
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_fast_with_a_clear_reason() {
    let mut h = Harness::new(vec![], None).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    h.config.llm.base_url = format!("http://127.0.0.1:{port}/v1");
    // The shipped retry settings, not the test's short ones.
    h.config.llm.retry = RetryConfig::default();
    let started = Instant::now();
    let (result, _) = h.execute(&h.run("Do it")).await;
    let reason = fatal_reason(result);
    assert!(
        reason.starts_with(&format!(
            "LLM endpoint http://127.0.0.1:{port}/v1/chat/completions unreachable: "
        )),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_error_other_than_429_is_fatal_at_once() {
    let h = Harness::new(vec![], Some(Scripted::Status(401, None))).await;
    let (result, _) = h.execute(&h.run("Do it")).await;
    let reason = fatal_reason(result);
    assert!(reason.contains("HTTP 401"), "{reason}");
    assert_eq!(h.llm.bodies().len(), 1);
}

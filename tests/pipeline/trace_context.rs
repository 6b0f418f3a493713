//! The W3C trace context travels from the submit request through the outbox
//! and the job message's headers into the worker, which continues it.

use agent_runner_queue::Names;
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::{Value, json};
use std::time::Duration;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn caller_traceparent() -> String {
    format!("00-{TRACE_ID}-{CALLER_SPAN}-01")
}

/// (trace id, span id) of a `traceparent` value, checked to be well formed.
fn parts(traceparent: &str) -> (String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    assert_eq!(fields[0], "00", "{traceparent}");
    assert_eq!(fields[1].len(), 32, "{traceparent}");
    assert_eq!(fields[2].len(), 16, "{traceparent}");
    assert!(
        fields[1].chars().all(|c| c.is_ascii_hexdigit()),
        "{traceparent}"
    );
    (fields[1].to_owned(), fields[2].to_owned())
}

async fn submit_traced(
    api: &ApiHandle,
    project: &str,
    traceparent: Option<&str>,
    params: Value,
) -> String {
    let mut request = api
        .http
        .post(format!("{}/v1/runs", api.base_url))
        .bearer_auth(&api.token)
        .json(&json!({"project_id": project, "goal": "traced", "params": params}));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.send().await.expect("submit");
    assert_eq!(response.status(), 201);
    let run: Value = response.json().await.expect("run");
    run["id"].as_str().expect("run id").to_owned()
}

async fn outbox_traceparents(env: &TestEnv, run_id: &str) -> Vec<String> {
    env.sql(
        "SELECT traceparent FROM outbox WHERE run_id = $1::text::uuid ORDER BY id",
        &[&run_id],
    )
    .await
    .iter()
    .map(|row| {
        row.get::<_, Option<String>>(0)
            .expect("outbox row has a traceparent")
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_job_message_carries_the_submit_requests_trace_or_a_new_one() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let work_queue = Names::new(env.prefix.clone()).work_queue();

    // No worker consumes: the published messages wait in the work queue.
    let traced = submit_traced(&api, &project, Some(&caller_traceparent()), json!({})).await;
    let untraced = submit_traced(&api, &project, None, json!({})).await;
    let messages = env.rabbit.drain(&env.amqp_url, &work_queue).await;
    assert_eq!(messages.len(), 2);
    // What the management UI shows of each message.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for message in &messages {
        assert_eq!(
            message.app_id.as_deref(),
            Some("agent-runner-api"),
            "{message:?}"
        );
        assert_eq!(message.kind.as_deref(), Some("execute_run"), "{message:?}");
        assert_eq!(message.attempt, Some(1), "{message:?}");
        assert_eq!(message.project_id.as_deref(), Some(project.as_str()));
        assert!(message.persistent, "{message:?}");
        assert!(
            message.timestamp.is_some_and(|t| t.abs_diff(now) < 120),
            "{message:?}"
        );
    }
    let header_of = |run: &str| {
        messages
            .iter()
            .find(|m| m.message_id.as_deref() == Some(run))
            .and_then(|m| m.traceparent.clone())
            .unwrap_or_else(|| panic!("no traceparent on the message for {run}"))
    };

    let (trace_id, span_id) = parts(&header_of(&traced));
    assert_eq!(trace_id, TRACE_ID, "the caller's trace continues");
    assert_ne!(span_id, CALLER_SPAN, "the api is a hop of its own");
    assert_eq!(
        outbox_traceparents(&env, &traced).await,
        vec![header_of(&traced)]
    );

    let (new_trace, _) = parts(&header_of(&untraced));
    assert_ne!(
        new_trace, TRACE_ID,
        "without a traceparent the api starts a trace"
    );
    assert_ne!(new_trace, "0".repeat(32));

    // A row left to the outbox relay is published in the trace it stored.
    let relayed = format!("00-{TRACE_ID}-{}-01", "1".repeat(16));
    env.sql(
        "INSERT INTO outbox (run_id, attempt, traceparent, created_at)
         VALUES ($1::text::uuid, 1, $2, clock_timestamp() - interval '1 minute')",
        &[&traced, &relayed],
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let republished = loop {
        let messages = env.rabbit.drain(&env.amqp_url, &work_queue).await;
        if let Some(message) = messages.into_iter().next() {
            break message;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay did not publish the row"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(republished.message_id.as_deref(), Some(traced.as_str()));
    let hop = republished
        .traceparent
        .expect("the relayed job carries a trace");
    let parts: Vec<&str> = hop.split('-').collect();
    assert_eq!(parts.len(), 4, "{hop}");
    assert_eq!(
        parts[1], TRACE_ID,
        "the relayed job stays in the stored trace"
    );
    assert_ne!(
        parts[2],
        "1".repeat(16),
        "the relay's own hop is the job's parent"
    );

    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_continues_the_trace_into_the_retry_it_hands_off() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let run = submit_traced(
        &api,
        &project,
        Some(&caller_traceparent()),
        json!({"step_delay_ms": 0, "fail_attempts": 1}),
    )
    .await;
    api.wait_for(&run, &["COMPLETED"], Duration::from_secs(20))
        .await;

    // Row 1: written by the api with the request; row 2: written by the
    // worker's first attempt for its retry, from the trace it received.
    let rows = outbox_traceparents(&env, &run).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (api_trace, api_span) = parts(&rows[0]);
    let (worker_trace, worker_span) = parts(&rows[1]);
    assert_eq!(api_trace, TRACE_ID);
    assert_eq!(
        worker_trace, TRACE_ID,
        "the worker continued the caller's trace"
    );
    assert_ne!(worker_span, api_span, "the worker is a hop of its own");
    assert_ne!(worker_span, CALLER_SPAN);

    worker.stop().await;
    api.stop().await;
}

//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the api's request span and the
//! worker's delivery span — or its control span, for an exec or a review —
//! are exported over OTLP/HTTP in the caller's trace; the `llm` agent's
//! model and tool calls are spans of their own, and so is each job the
//! outbox relay publishes.
//!
//! Every export carries the headers of `OTEL_EXPORTER_OTLP_HEADERS` (the
//! collector's credentials). With `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` the
//! same spans reach a gRPC collector (`grpc` below).
//!
//! The subscriber is process-global: this test installs it for its own
//! process (nextest runs each test in a process of its own).

use crate::llm::Setup;
use agent_runner_telemetry::{OtlpHeaders, OtlpProtocol, Telemetry, TelemetryConfig};
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

/// The key the collector wants, percent-encoded as in
/// `OTEL_EXPORTER_OTLP_HEADERS`, and as it arrives.
const COLLECTOR_KEY: (&str, &str) = ("Bearer%20collector-key", "Bearer collector-key");

/// A fake OTLP/HTTP collector keeping the raw protobuf bodies it receives,
/// with each request's `authorization` header.
#[derive(Clone, Default)]
pub(crate) struct Collector(Arc<Mutex<Vec<Export>>>);

/// One export request the collector received.
struct Export {
    authorization: Option<String>,
    body: Bytes,
}

impl Collector {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind collector");
        let addr = listener.local_addr().expect("collector addr");
        let app = self.router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    /// The collector's HTTP routes (`POST /v1/traces`).
    pub(crate) fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(self.clone())
    }

    /// Bodies that mention the trace id (as the 16 raw bytes protobuf uses).
    pub(crate) fn bodies_with_trace(&self, trace_id: &[u8]) -> Vec<Bytes> {
        let bodies = self.0.lock().expect("collector lock");
        bodies
            .iter()
            .map(|export| &export.body)
            .filter(|body| body.windows(trace_id.len()).any(|w| w == trace_id))
            .cloned()
            .collect()
    }

    /// Every body so far, concatenated.
    pub(crate) fn everything(&self) -> Vec<u8> {
        let bodies = self.0.lock().expect("collector lock");
        bodies
            .iter()
            .flat_map(|export| export.body.iter().copied())
            .collect()
    }

    /// The `authorization` header of each request so far.
    fn authorizations(&self) -> Vec<Option<String>> {
        let bodies = self.0.lock().expect("collector lock");
        bodies
            .iter()
            .map(|export| export.authorization.clone())
            .collect()
    }
}

async fn receive(
    State(collector): State<Collector>,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let export = Export {
        authorization,
        body,
    };
    collector.0.lock().expect("collector lock").push(export);
    ""
}

/// Installs the exporter towards a fresh collector.
async fn export_to_collector() -> (Collector, Telemetry) {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let telemetry = agent_runner_telemetry::init(&TelemetryConfig {
        service_name: "agent-runner-test".into(),
        otlp_endpoint: Some(endpoint),
        otlp_protocol: OtlpProtocol::HttpProtobuf,
        otlp_headers: OtlpHeaders::new([("authorization".to_owned(), COLLECTOR_KEY.0.to_owned())]),
        otlp_certificate: None,
        otlp_client_identity: None,
    })
    .expect("exporter");
    assert!(
        telemetry.exporting(),
        "another subscriber was installed first in this process"
    );
    (collector, telemetry)
}

/// Flushes every span, then returns the bodies in trace `hex` (32 hex
/// digits), concatenated.
pub(crate) async fn flushed_trace(
    collector: &Collector,
    telemetry: Telemetry,
    hex: &str,
) -> Vec<u8> {
    let trace_id = trace_id_bytes(hex);
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .expect("flush");
    collector.bodies_with_trace(&trace_id).concat()
}

/// Starts an api and a worker, submits one run with a `traceparent` in
/// trace `hex`, waits for it to complete and stops both; the run's id.
pub(crate) async fn run_one_in_trace(hex: &str) -> String {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let response = api
        .http
        .post(format!("{}/v1/runs", api.base_url))
        .bearer_auth(&api.token)
        .header("traceparent", format!("00-{hex}-b7ad6b7169203331-01"))
        .json(&json!({"project_id": project, "goal": "traced", "params": {"step_delay_ms": 0}}))
        .send()
        .await
        .expect("submit");
    assert_eq!(response.status(), 201);
    let run: serde_json::Value = response.json().await.expect("run");
    let run_id = run["id"].as_str().expect("run id").to_owned();
    api.wait_for(&run_id, &["COMPLETED"], Duration::from_secs(20))
        .await;
    worker.stop().await;
    api.stop().await;
    run_id
}

/// The 16 bytes of a trace id given as 32 hex digits.
pub(crate) fn trace_id_bytes(hex: &str) -> Vec<u8> {
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spans_of_the_api_and_the_worker_reach_an_otlp_collector_in_the_callers_trace() {
    let (collector, telemetry) = export_to_collector().await;
    let run_id = run_one_in_trace(TRACE_ID).await;
    let all = flushed_trace(&collector, telemetry, TRACE_ID).await;
    assert!(
        !all.is_empty(),
        "no exported span carries the caller's trace id"
    );
    let authorizations = collector.authorizations();
    assert!(
        authorizations
            .iter()
            .all(|auth| auth.as_deref() == Some(COLLECTOR_KEY.1)),
        "every export carries the configured header, decoded: {authorizations:?}"
    );
    assert!(
        contains(&all, "http.request"),
        "the api's request span is in the trace"
    );
    assert!(
        contains(&all, "delivery"),
        "the worker's delivery span is in the trace"
    );
    assert!(contains(&all, &run_id), "the worker's span carries run.id");
    assert!(
        contains(&all, "agent-runner-test"),
        "the resource names the service"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exec_request_is_carried_out_in_the_callers_trace() {
    const EXEC_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (collector, telemetry) = export_to_collector().await;

    let (s, id, _) = Setup::awaiting_approval().await;
    let response = s
        .api
        .http
        .post(format!("{}/v1/runs/{id}/exec", s.api.base_url))
        .bearer_auth(&s.api.token)
        .header(
            "traceparent",
            format!("00-{EXEC_TRACE_ID}-00f067aa0ba902b7-01"),
        )
        .json(&json!({"cmd": "true"}))
        .send()
        .await
        .expect("exec");
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.expect("answer");
    let request_id = answer["request_id"].as_str().unwrap_or_default().to_owned();
    s.stop().await;

    let all = flushed_trace(&collector, telemetry, EXEC_TRACE_ID).await;
    assert!(
        contains(&all, "http.request"),
        "the api's request span is in the trace"
    );
    assert!(
        contains(&all, "control"),
        "the worker's control span is in the caller's trace"
    );
    assert!(
        !request_id.is_empty() && contains(&all, &request_id),
        "the control span names the request {request_id}: {answer}"
    );
    // The attempt before it: its model calls and tool calls are spans too.
    let everything: Vec<u8> = collector.everything();
    assert!(contains(&everything, "llm.chat"), "model calls are spans");
    assert!(
        contains(&everything, "tool.call") && contains(&everything, "str_replace"),
        "tool calls are spans naming the tool"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_the_outbox_relay_publishes_has_a_relay_span_in_the_stored_trace() {
    const RELAY_TRACE_ID: &str = "5af7651916cd43dd8448eb211c80319d";
    let (collector, telemetry) = export_to_collector().await;

    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[("RELAY_INTERVAL_MS", "100")]).await;
    let project = api.project().await;
    let id = api.submit(&project, json!({"step_delay_ms": 0})).await;
    // A row left to the relay (as after a crash between commit and publish).
    env.sql(
        "INSERT INTO outbox (run_id, attempt, traceparent, created_at)
         VALUES ($1::text::uuid, 1, $2, clock_timestamp() - interval '1 minute')",
        &[&id, &format!("00-{RELAY_TRACE_ID}-{}-01", "2".repeat(16))],
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let client = env.pool.get().await.expect("db");
        let unsent: i64 = client
            .query_one(
                "SELECT count(*) FROM outbox WHERE run_id = $1::text::uuid AND sent_at IS NULL",
                &[&id],
            )
            .await
            .expect("query")
            .get(0);
        if unsent == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay did not publish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let worker = WorkerHandle::spawn(&env, &[]).await;
    api.wait_for(&id, &["COMPLETED"], Duration::from_secs(20))
        .await;
    // The relayed copy is a duplicate delivery: give the worker time to take it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker.stop().await;
    api.stop().await;

    let all = flushed_trace(&collector, telemetry, RELAY_TRACE_ID).await;
    assert!(
        contains(&all, "outbox.relay"),
        "the relay's span is in the stored trace"
    );
    assert!(
        contains(&all, "delivery"),
        "the worker's delivery of the relayed job is in the same trace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_collector_headers_stop_both_binaries_naming_the_entry_not_the_secret() {
    for name in ["agent-runner-api", "agent-runner-worker"] {
        let out = tokio::process::Command::new(agent_runner_tests::binary(name))
            .arg("healthcheck")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
            .env("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=eu,s3cret-key")
            .kill_on_drop(true)
            .output()
            .await
            .expect("run the binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains("OTEL_EXPORTER_OTLP_HEADERS: entry 2 has no `=`"),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("s3cret"), "{name}: {stderr}");
    }
}

//! Mutual TLS: a collector that asks for a client certificate signed by its
//! CA gets spans — over OTLP/HTTP and OTLP/gRPC — from an exporter given one
//! in `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`/`…_CLIENT_KEY`, and nothing
//! from an exporter without one.

use crate::otlp::{Collector, flushed_trace, run_one_in_trace, trace_id_bytes};
use crate::otlp_grpc::GrpcCollector;
use crate::otlp_tls::{ClientAuth, TestPki, install, serve_https};
use agent_runner_telemetry::OtlpProtocol;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

const TRACE_ID: &str = "8a3c60f7d188f8fa79d48a391a778fa6";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_collector_asking_for_a_client_certificate_gets_spans_from_an_exporter_given_one() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::default();
    let endpoint = serve_https(&collector, &pki, ClientAuth::Required).await;
    let telemetry = install(
        endpoint,
        OtlpProtocol::HttpProtobuf,
        Some(pki.ca_file(&dir)),
        Some(pki.client_files(&dir)),
    );

    let run_id = run_one_in_trace(TRACE_ID).await;
    let trace = flushed_trace(&collector, telemetry, TRACE_ID).await;
    assert!(
        trace.windows(run_id.len()).any(|w| w == run_id.as_bytes()),
        "the run's spans reached the collector over mutual TLS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_collector_asking_for_a_client_certificate_gets_nothing_from_an_exporter_without_one() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::default();
    let endpoint = serve_https(&collector, &pki, ClientAuth::Required).await;
    // The server is trusted, but the exporter has no certificate to show.
    let telemetry = install(
        endpoint,
        OtlpProtocol::HttpProtobuf,
        Some(pki.ca_file(&dir)),
        None,
    );

    run_one_in_trace(TRACE_ID).await;
    let trace = flushed_trace(&collector, telemetry, TRACE_ID).await;
    assert!(trace.is_empty(), "spans got past the client check");
    assert!(
        collector.everything().is_empty(),
        "no request got through the handshake"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grpc_collector_asking_for_a_client_certificate_gets_spans_from_an_exporter_given_one() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = GrpcCollector::default();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(
            &pki.server_cert_pem,
            &pki.server_key_pem,
        ))
        .client_ca_root(Certificate::from_pem(pki.ca_pem()));
    let endpoint = collector.serve(Some(tls)).await;
    let telemetry = install(
        endpoint,
        OtlpProtocol::Grpc,
        Some(pki.ca_file(&dir)),
        Some(pki.client_files(&dir)),
    );

    run_one_in_trace(TRACE_ID).await;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .expect("flush");
    let names = collector.span_names_in(&trace_id_bytes(TRACE_ID));
    assert!(
        names.iter().any(|name| name.contains("delivery")),
        "no worker span reached the collector over mutual TLS: {names:?}"
    );
}

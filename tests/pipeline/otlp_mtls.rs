//! Mutual TLS: a collector that asks for a client certificate signed by its
//! CA gets spans — over OTLP/HTTP and OTLP/gRPC — from an exporter given one
//! in `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`/`…_CLIENT_KEY`, and nothing
//! from an exporter without one.

use crate::otlp::Collector;
use crate::otlp_grpc::GrpcCollector;
use crate::otlp_tls::{
    ClientAuth, TestPki, assert_nothing_arrives, assert_run_spans_arrive,
    assert_run_spans_arrive_over_grpc, install, serve_https,
};
use agent_runner_telemetry::{OtlpProtocol, Telemetry};

/// An OTLP/HTTP collector asking for a client certificate signed by its CA,
/// and an exporter towards it that trusts the CA and shows a certificate
/// signed by it when `show_certificate`.
async fn exporting_to_a_collector_asking_for_a_certificate(
    show_certificate: bool,
) -> (Collector, Telemetry) {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::default();
    let endpoint = serve_https(&collector, &pki, ClientAuth::Required).await;
    // Both are read into memory: the files may go with `dir`.
    let telemetry = install(
        endpoint,
        OtlpProtocol::HttpProtobuf,
        Some(pki.ca_file(&dir)),
        show_certificate.then(|| pki.client_files(&dir)),
    );
    (collector, telemetry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_collector_asking_for_a_client_certificate_gets_spans_from_an_exporter_given_one() {
    let (collector, telemetry) = exporting_to_a_collector_asking_for_a_certificate(true).await;
    assert_run_spans_arrive(&collector, telemetry).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_collector_asking_for_a_client_certificate_gets_nothing_from_an_exporter_without_one() {
    // The server is trusted, but the exporter has no certificate to show.
    let (collector, telemetry) = exporting_to_a_collector_asking_for_a_certificate(false).await;
    assert_nothing_arrives(&collector, telemetry).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grpc_collector_asking_for_a_client_certificate_gets_spans_from_an_exporter_given_one() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = GrpcCollector::default();
    let endpoint = collector
        .serve(Some(pki.grpc_server_tls(ClientAuth::Required)))
        .await;
    let telemetry = install(
        endpoint,
        OtlpProtocol::Grpc,
        Some(pki.ca_file(&dir)),
        Some(pki.client_files(&dir)),
    );
    assert_run_spans_arrive_over_grpc(&collector, telemetry).await;
}

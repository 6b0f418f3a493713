//! With `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`, the api's and the worker's spans
//! reach an OTLP/gRPC collector (the collector's `TraceService`, served here
//! on 127.0.0.1:0) in the caller's trace, with the headers of
//! `OTEL_EXPORTER_OTLP_HEADERS` as gRPC metadata.
//!
//! The subscriber is process-global: this test installs it for its own
//! process (nextest runs each test in a process of its own).

use crate::otlp::{run_one_in_trace, trace_id_bytes};
use agent_runner_telemetry::{OtlpHeaders, OtlpProtocol, TelemetryConfig};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::sync::{Arc, Mutex};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::ServerTlsConfig;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// What the collector received: each export's `authorization` metadata and
/// the spans' trace ids and names.
#[derive(Clone, Default)]
pub(crate) struct GrpcCollector(Arc<Mutex<Vec<Export>>>);

pub(crate) struct Export {
    authorization: Option<String>,
    spans: Vec<(Vec<u8>, String)>,
}

#[tonic::async_trait]
impl TraceService for GrpcCollector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .map(|span| (span.trace_id, span.name))
            .collect();
        let export = Export {
            authorization,
            spans,
        };
        self.0.lock().expect("collector lock").push(export);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl GrpcCollector {
    /// The names of the spans received in trace `trace_id` (16 bytes).
    pub(crate) fn span_names_in(&self, trace_id: &[u8]) -> Vec<String> {
        let exports = self.0.lock().expect("collector lock");
        exports
            .iter()
            .flat_map(|export| &export.spans)
            .filter(|(id, _)| id == trace_id)
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// Serves the collector on 127.0.0.1:0; its base URL.
    async fn start(&self) -> String {
        self.serve(None).await
    }

    /// Serves the collector on 127.0.0.1:0, over TLS when `tls` is given
    /// (then as `https://localhost:<port>`); its base URL.
    pub(crate) async fn serve(&self, tls: Option<ServerTlsConfig>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind collector");
        let port = listener.local_addr().expect("collector addr").port();
        let mut server = tonic::transport::Server::builder();
        let base = match tls {
            Some(tls) => {
                server = server.tls_config(tls).expect("collector TLS");
                format!("https://localhost:{port}")
            }
            None => format!("http://127.0.0.1:{port}"),
        };
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            server
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        base
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spans_reach_a_grpc_collector_in_the_callers_trace_with_the_headers_as_metadata() {
    let collector = GrpcCollector::default();
    let endpoint = collector.start().await;
    let telemetry = agent_runner_telemetry::init(&TelemetryConfig {
        service_name: "agent-runner-test".into(),
        otlp_endpoint: Some(endpoint),
        otlp_protocol: OtlpProtocol::Grpc,
        otlp_headers: OtlpHeaders::new([(
            "Authorization".to_owned(),
            "Bearer%20grpc-key".to_owned(),
        )]),
        otlp_certificate: None,
        otlp_client_identity: None,
    })
    .expect("exporter");
    assert!(
        telemetry.exporting(),
        "another subscriber was installed first"
    );

    run_one_in_trace(TRACE_ID).await;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .expect("flush");

    let names = collector.span_names_in(&trace_id_bytes(TRACE_ID));
    for expected in ["http.request", "delivery"] {
        assert!(
            names.iter().any(|name| name.contains(expected)),
            "no `{expected}` span in the caller's trace: {names:?}"
        );
    }
    let exports = collector.0.lock().expect("collector lock");
    assert!(
        exports
            .iter()
            .all(|export| export.authorization.as_deref() == Some("Bearer grpc-key")),
        "every export carries the header as metadata"
    );
}

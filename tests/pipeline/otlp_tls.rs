//! Spans reach an `https://` collector — over OTLP/HTTP and OTLP/gRPC —
//! whose certificate is signed by the CA named in
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`, and a collector whose certificate no
//! trusted CA signed gets nothing: the exporter verifies the server.
//!
//! A CA, a `localhost` certificate and a client certificate it signed are
//! made for each test ([`TestPki`], shared with the mutual-TLS tests). The
//! subscriber is process-global: each test installs it for its own process
//! (nextest runs each test in a process of its own).

use crate::otlp::{Collector, flushed_trace, run_one_in_trace, trace_id_bytes};
use crate::otlp_grpc::GrpcCollector;
use agent_runner_telemetry::{
    CaCertificate, ClientIdentity, OtlpHeaders, OtlpProtocol, Telemetry, TelemetryConfig,
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

const TRACE_ID: &str = "5cf92f3577b34da6a3ce929d0e0e4736";

/// A CA, a certificate for `localhost` and 127.0.0.1 it signed (the
/// collector's or the broker's) and one for a client, in PEM.
pub(crate) struct TestPki {
    ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

/// Whether a collector asks the exporter for a certificate signed by the CA.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    None,
    Required,
}

impl TestPki {
    pub(crate) fn new() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: a certificate whose issuer and subject read alike
        // looks self-signed to stricter verifiers (Erlang's, RabbitMQ's).
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "agent-runner test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let signed = |names: &[&str]| {
            let key = KeyPair::generate().expect("key");
            let names = names
                .iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>();
            let mut params = CertificateParams::new(names.clone()).expect("params");
            params
                .distinguished_name
                .push(DnType::CommonName, names[0].as_str());
            let certificate = params.signed_by(&key, &ca, &ca_key).expect("certificate");
            (certificate.pem(), key.serialize_pem())
        };
        let (server_cert_pem, server_key_pem) = signed(&["localhost", "127.0.0.1"]);
        let (client_cert_pem, client_key_pem) = signed(&["agent-runner-exporter"]);
        Self {
            ca_pem: ca.pem(),
            server_cert_pem,
            server_key_pem,
            client_cert_pem,
            client_key_pem,
        }
    }

    /// The CA as `OTEL_EXPORTER_OTLP_CERTIFICATE` would name it.
    pub(crate) fn ca_file(&self, dir: &tempfile::TempDir) -> CaCertificate {
        let path = dir.path().join("collector-ca.pem");
        std::fs::write(&path, &self.ca_pem).expect("write CA");
        CaCertificate::read(path).expect("CA file")
    }

    /// The client certificate and key as `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`
    /// and `OTEL_EXPORTER_OTLP_CLIENT_KEY` would name them.
    pub(crate) fn client_files(&self, dir: &tempfile::TempDir) -> ClientIdentity {
        let certificate = dir.path().join("exporter.pem");
        let key = dir.path().join("exporter-key.pem");
        std::fs::write(&certificate, &self.client_cert_pem).expect("write certificate");
        std::fs::write(&key, &self.client_key_pem).expect("write key");
        ClientIdentity::read(certificate, key).expect("client files")
    }

    /// The CA, the server's certificate and key as files in `dir`, for a
    /// server that reads them itself (a RabbitMQ node).
    pub(crate) fn server_files(&self, dir: &std::path::Path) -> [std::path::PathBuf; 3] {
        let files = [
            ("ca.pem", &self.ca_pem),
            ("server.pem", &self.server_cert_pem),
            ("server-key.pem", &self.server_key_pem),
        ];
        files.map(|(name, pem)| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("write PEM");
            path
        })
    }

    /// The CA certificate (PEM).
    pub(crate) fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The client certificate and its key (PEM).
    pub(crate) fn client_pem(&self) -> (&str, &str) {
        (&self.client_cert_pem, &self.client_key_pem)
    }

    /// TLS for a gRPC collector with the `localhost` certificate; it asks
    /// for a client certificate signed by the CA when `client_auth` says so.
    pub(crate) fn grpc_server_tls(&self, client_auth: ClientAuth) -> ServerTlsConfig {
        let tls = ServerTlsConfig::new().identity(Identity::from_pem(
            &self.server_cert_pem,
            &self.server_key_pem,
        ));
        match client_auth {
            ClientAuth::None => tls,
            ClientAuth::Required => tls.client_ca_root(Certificate::from_pem(&self.ca_pem)),
        }
    }

    fn acceptor(&self, client_auth: ClientAuth) -> TlsAcceptor {
        let chain = vec![
            CertificateDer::from_pem_slice(self.server_cert_pem.as_bytes()).expect("server PEM"),
        ];
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).expect("key PEM");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = match client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Required => {
                let mut roots = rustls::RootCertStore::empty();
                roots
                    .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).expect("CA PEM"))
                    .expect("CA root");
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(chain, key)
            .expect("server TLS config");
        TlsAcceptor::from(Arc::new(config))
    }
}

/// Serves `collector` over TLS on 127.0.0.1:0; its `https://localhost` URL.
pub(crate) async fn serve_https(
    collector: &Collector,
    pki: &TestPki,
    client_auth: ClientAuth,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind collector");
    let port = listener.local_addr().expect("collector addr").port();
    let acceptor = pki.acceptor(client_auth);
    let router = collector.router();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let service = TowerToHyperService::new(router.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _served = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    format!("https://localhost:{port}")
}

/// Installs the exporter towards `endpoint`, trusting `certificate` and
/// showing `client`.
pub(crate) fn install(
    endpoint: String,
    protocol: OtlpProtocol,
    certificate: Option<CaCertificate>,
    client: Option<ClientIdentity>,
) -> Telemetry {
    let telemetry = agent_runner_telemetry::init(&TelemetryConfig {
        service_name: "agent-runner-test".into(),
        otlp_endpoint: Some(endpoint),
        otlp_protocol: protocol,
        otlp_headers: OtlpHeaders::default(),
        otlp_certificate: certificate,
        otlp_client_identity: client,
    })
    .expect("exporter");
    assert!(
        telemetry.exporting(),
        "another subscriber was installed first in this process"
    );
    telemetry
}

/// Runs one run in a trace and checks that its spans reached `collector`.
pub(crate) async fn assert_run_spans_arrive(collector: &Collector, telemetry: Telemetry) {
    let run_id = run_one_in_trace(TRACE_ID).await;
    let trace = flushed_trace(collector, telemetry, TRACE_ID).await;
    assert!(
        trace.windows(run_id.len()).any(|w| w == run_id.as_bytes()),
        "the run's spans did not reach the collector"
    );
}

/// Runs one run in a trace and checks that not one request reached
/// `collector`.
pub(crate) async fn assert_nothing_arrives(collector: &Collector, telemetry: Telemetry) {
    run_one_in_trace(TRACE_ID).await;
    let trace = flushed_trace(collector, telemetry, TRACE_ID).await;
    assert!(trace.is_empty(), "spans got to the collector");
    assert!(
        collector.everything().is_empty(),
        "a request got through the handshake"
    );
}

/// Runs one run in a trace and checks that the worker's spans reached the
/// gRPC `collector`.
pub(crate) async fn assert_run_spans_arrive_over_grpc(
    collector: &GrpcCollector,
    telemetry: Telemetry,
) {
    run_one_in_trace(TRACE_ID).await;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .expect("flush");
    let names = collector.span_names_in(&trace_id_bytes(TRACE_ID));
    assert!(
        names.iter().any(|name| name.contains("delivery")),
        "no worker span reached the collector: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spans_reach_an_https_collector_signed_by_the_configured_ca() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::default();
    let endpoint = serve_https(&collector, &pki, ClientAuth::None).await;
    let telemetry = install(
        endpoint,
        OtlpProtocol::HttpProtobuf,
        Some(pki.ca_file(&dir)),
        None,
    );
    assert_run_spans_arrive(&collector, telemetry).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_https_collector_no_trusted_ca_signed_gets_nothing() {
    let pki = TestPki::new();
    let collector = Collector::default();
    let endpoint = serve_https(&collector, &pki, ClientAuth::None).await;
    // The public roots only: the test CA is not among them.
    let telemetry = install(endpoint, OtlpProtocol::HttpProtobuf, None, None);
    assert_nothing_arrives(&collector, telemetry).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spans_reach_an_https_grpc_collector_signed_by_the_configured_ca() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = GrpcCollector::default();
    let endpoint = collector
        .serve(Some(pki.grpc_server_tls(ClientAuth::None)))
        .await;
    let telemetry = install(endpoint, OtlpProtocol::Grpc, Some(pki.ca_file(&dir)), None);
    assert_run_spans_arrive_over_grpc(&collector, telemetry).await;
}

//! OTLP export of spans — over HTTP (protobuf) or gRPC, as
//! `OTEL_EXPORTER_OTLP_PROTOCOL` says, in plain text to an `http://`
//! collector or over TLS to an `https://` one — off unless
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set to a non-empty value, with the
//! headers of `OTEL_EXPORTER_OTLP_HEADERS` (a collector's credentials) on
//! every request, and over TLS the client certificate of
//! `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`/`…_CLIENT_KEY` when set. Spans are batched on a background thread;
//! [`crate::Telemetry::shutdown`] flushes what is left.

use crate::otlp_certificate::CaCertificate;
use crate::otlp_client_identity::ClientIdentity;
use crate::otlp_headers::{HEADERS_VAR, OtlpHeaders};
use crate::otlp_http_client::OtlpHttpClient;
use agent_runner_config::{ConfigError, Env};
use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
use opentelemetry_otlp::{
    Protocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// Telemetry settings of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `OTEL_SERVICE_NAME`, else (unset or empty) the binary's name.
    pub service_name: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: base URL of an OTLP collector
    /// (`http://collector:4318` for HTTP, where spans go to
    /// `<endpoint>/v1/traces`; `http://collector:4317` for gRPC; `https://`
    /// for TLS). `None` when unset or empty (the default): nothing is
    /// exported, so a deployment may pass the variable through empty.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`: how spans travel.
    pub otlp_protocol: OtlpProtocol,
    /// `OTEL_EXPORTER_OTLP_HEADERS`: headers sent with every export.
    pub otlp_headers: OtlpHeaders,
    /// `OTEL_EXPORTER_OTLP_CERTIFICATE`: CAs trusted for an `https://`
    /// collector besides the public roots.
    pub otlp_certificate: Option<CaCertificate>,
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `…_CLIENT_KEY`: the
    /// certificate shown to an `https://` collector that asks for one.
    pub otlp_client_identity: Option<ClientIdentity>,
}

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// `http/protobuf` (the default): POSTs to `<endpoint>/v1/traces`.
    #[default]
    HttpProtobuf,
    /// `grpc`: the collector's `TraceService` over HTTP/2.
    Grpc,
}

/// The variable naming the collector.
const ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// An `http://` or `https://` base URL with a host.
fn checked_endpoint(endpoint: &str) -> Result<String, ConfigError> {
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(endpoint.to_owned()),
        _ => Err(ConfigError {
            var: ENDPOINT_VAR.to_owned(),
            message: format!(
                "`{endpoint}` is not an http:// or https:// base URL like http://collector:4318"
            ),
        }),
    }
}

/// The variable choosing the protocol.
const PROTOCOL_VAR: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";

impl OtlpProtocol {
    fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim() {
            "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
            "grpc" => Ok(OtlpProtocol::Grpc),
            other => Err(ConfigError {
                var: PROTOCOL_VAR.to_owned(),
                message: format!("`{other}` is not one of `http/protobuf` (the default), `grpc`"),
            }),
        }
    }
}

impl TelemetryConfig {
    /// Reads the settings; `service_name` is the default service name.
    pub fn from_env(env: &Env, service_name: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            service_name: env
                .string("OTEL_SERVICE_NAME", service_name)
                .trim()
                .to_owned(),
            otlp_endpoint: env
                .raw(ENDPOINT_VAR)
                .map(|endpoint| checked_endpoint(endpoint.trim()))
                .transpose()?,
            otlp_protocol: env
                .raw(PROTOCOL_VAR)
                .map(|value| OtlpProtocol::parse(&value))
                .transpose()?
                .unwrap_or_default(),
            otlp_headers: env
                .raw(HEADERS_VAR)
                .map(|value| OtlpHeaders::parse(&value))
                .transpose()?
                .unwrap_or_default(),
            otlp_certificate: CaCertificate::from_env(env)?,
            otlp_client_identity: ClientIdentity::from_env(env)?,
        })
    }

    /// Logs only, no export.
    pub fn logs_only(service_name: &str) -> Self {
        Self {
            service_name: service_name.to_owned(),
            otlp_endpoint: None,
            otlp_protocol: OtlpProtocol::default(),
            otlp_headers: OtlpHeaders::default(),
            otlp_certificate: None,
            otlp_client_identity: None,
        }
    }
}

/// Why the exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("OTEL_EXPORTER_OTLP_ENDPOINT: cannot build the OTLP exporter: {0}")]
pub struct ExportError(String);

/// A tracer provider exporting as `config` says through a batch processor;
/// `None` when `config` exports nothing. Call it inside a Tokio runtime: the
/// exporter sends on it.
pub fn provider(config: &TelemetryConfig) -> Result<Option<SdkTracerProvider>, ExportError> {
    let Some(endpoint) = config.otlp_endpoint.as_deref() else {
        return Ok(None);
    };
    let exporter = match config.otlp_protocol {
        OtlpProtocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            // The exporter percent-decodes the values.
            .with_headers(config.otlp_headers.to_map())
            .with_http_client(
                OtlpHttpClient::new(
                    config.otlp_certificate.as_ref(),
                    config.otlp_client_identity.as_ref(),
                )
                .map_err(ExportError)?,
            )
            .build(),
        OtlpProtocol::Grpc => {
            let builder = SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_metadata(config.otlp_headers.to_metadata().map_err(ExportError)?);
            if endpoint.starts_with("https://") {
                builder.with_tls_config(grpc_tls(
                    config.otlp_certificate.as_ref(),
                    config.otlp_client_identity.as_ref(),
                ))
            } else {
                builder
            }
            .build()
        }
    }
    .map_err(|e| ExportError(e.to_string()))?;
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build(),
    ))
}

/// TLS for a gRPC collector: the public roots and `ca`; `client` shown when
/// the collector asks for a certificate.
fn grpc_tls(ca: Option<&CaCertificate>, client: Option<&ClientIdentity>) -> ClientTlsConfig {
    let mut tls = ClientTlsConfig::new().with_webpki_roots();
    if let Some(ca) = ca {
        tls = tls.ca_certificate(Certificate::from_pem(ca.pem()));
    }
    if let Some(client) = client {
        tls = tls.identity(Identity::from_pem(
            client.certificate_pem(),
            client.key_pem(),
        ));
    }
    tls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_variables_export_nothing_under_the_binarys_name() {
        let config =
            TelemetryConfig::from_env(&Env::from_map::<&str, &str>([]), "agent-runner-api")
                .expect("config");
        assert_eq!(config, TelemetryConfig::logs_only("agent-runner-api"));
    }

    #[test]
    fn empty_variables_count_as_unset() {
        // What `OTEL_EXPORTER_OTLP_ENDPOINT: ${OTEL_EXPORTER_OTLP_ENDPOINT:-}` in
        // docker-compose.yml or an empty ConfigMap value hands the process.
        let env = Env::from_map([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            ("OTEL_SERVICE_NAME", " "),
            ("OTEL_EXPORTER_OTLP_HEADERS", ""),
        ]);
        let config = TelemetryConfig::from_env(&env, "agent-runner-worker").expect("config");
        assert_eq!(config, TelemetryConfig::logs_only("agent-runner-worker"));
    }

    #[test]
    fn set_variables_choose_the_collector_and_the_service_name() {
        // Surrounding blanks (a YAML block scalar's newline) are dropped.
        let env = Env::from_map([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", " http://collector:4318\n"),
            ("OTEL_SERVICE_NAME", "runner-api-eu"),
        ]);
        let config = TelemetryConfig::from_env(&env, "agent-runner-api").expect("config");
        assert_eq!(
            config.otlp_endpoint.as_deref(),
            Some("http://collector:4318")
        );
        assert_eq!(config.service_name, "runner-api-eu");
    }

    #[test]
    fn the_protocol_is_http_protobuf_unless_grpc_is_asked_for() {
        let with = |value: &str| {
            TelemetryConfig::from_env(
                &Env::from_map([("OTEL_EXPORTER_OTLP_PROTOCOL", value)]),
                "agent-runner-api",
            )
        };
        assert_eq!(
            with("").expect("unset").otlp_protocol,
            OtlpProtocol::HttpProtobuf
        );
        assert_eq!(
            with("http/protobuf").expect("http").otlp_protocol,
            OtlpProtocol::HttpProtobuf
        );
        assert_eq!(
            with(" grpc\n").expect("grpc").otlp_protocol,
            OtlpProtocol::Grpc
        );
        let err = with("http/json").expect_err("not built in");
        assert_eq!(err.var, "OTEL_EXPORTER_OTLP_PROTOCOL");
        assert!(err.message.contains("`http/json`"), "{err}");
    }

    #[test]
    fn the_collector_must_be_an_http_or_https_url() {
        for value in [
            "collector:4318",
            "http://",
            "https://",
            "https:///v1",
            "ftp://collector",
        ] {
            let env = Env::from_map([("OTEL_EXPORTER_OTLP_ENDPOINT", value)]);
            let err = TelemetryConfig::from_env(&env, "agent-runner-api").expect_err(value);
            assert_eq!(err.var, "OTEL_EXPORTER_OTLP_ENDPOINT");
            assert!(
                err.message.contains("not an http:// or https:// base URL"),
                "{value}: {err}"
            );
        }
        for value in ["http://collector:4318", "https://otlp.example.com"] {
            let env = Env::from_map([("OTEL_EXPORTER_OTLP_ENDPOINT", value)]);
            let config = TelemetryConfig::from_env(&env, "agent-runner-api").expect(value);
            assert_eq!(config.otlp_endpoint.as_deref(), Some(value));
        }
    }
}

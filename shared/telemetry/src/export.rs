//! OTLP/HTTP (protobuf) export of spans, off unless
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Spans are batched on a background
//! thread; [`crate::Telemetry::shutdown`] flushes what is left.

use agent_runner_config::Env;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// Telemetry settings of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `OTEL_SERVICE_NAME`, else the binary's name.
    pub service_name: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: base URL of an OTLP/HTTP collector
    /// (`http://collector:4318`); spans go to `<endpoint>/v1/traces`.
    /// `None` (the default) exports nothing.
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// Reads the settings; `service_name` is the default service name.
    pub fn from_env(env: &Env, service_name: &str) -> Self {
        Self {
            service_name: env.string("OTEL_SERVICE_NAME", service_name),
            otlp_endpoint: env.raw("OTEL_EXPORTER_OTLP_ENDPOINT"),
        }
    }

    /// Logs only, no export.
    pub fn logs_only(service_name: &str) -> Self {
        Self {
            service_name: service_name.to_owned(),
            otlp_endpoint: None,
        }
    }
}

/// Why the exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("OTEL_EXPORTER_OTLP_ENDPOINT: cannot build the OTLP exporter: {0}")]
pub struct ExportError(String);

/// A tracer provider exporting to `endpoint` with a batch processor.
pub fn provider(service_name: &str, endpoint: &str) -> Result<SdkTracerProvider, ExportError> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .build()
        .map_err(|e| ExportError(e.to_string()))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build())
}

//! OTLP/HTTP (protobuf) export of spans, off unless
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set to a non-empty value. Spans are
//! batched on a background thread; [`crate::Telemetry::shutdown`] flushes
//! what is left.

use agent_runner_config::Env;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// Telemetry settings of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `OTEL_SERVICE_NAME`, else (unset or empty) the binary's name.
    pub service_name: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: base URL of an OTLP/HTTP collector
    /// (`http://collector:4318`); spans go to `<endpoint>/v1/traces`.
    /// `None` when unset or empty (the default): nothing is exported, so a
    /// deployment may pass the variable through empty.
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// Reads the settings; `service_name` is the default service name.
    pub fn from_env(env: &Env, service_name: &str) -> Self {
        Self {
            service_name: env
                .string("OTEL_SERVICE_NAME", service_name)
                .trim()
                .to_owned(),
            otlp_endpoint: env
                .raw("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|endpoint| endpoint.trim().to_owned()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_variables_export_nothing_under_the_binarys_name() {
        let config =
            TelemetryConfig::from_env(&Env::from_map::<&str, &str>([]), "agent-runner-api");
        assert_eq!(config, TelemetryConfig::logs_only("agent-runner-api"));
    }

    #[test]
    fn empty_variables_count_as_unset() {
        // What `OTEL_EXPORTER_OTLP_ENDPOINT: ${OTEL_EXPORTER_OTLP_ENDPOINT:-}` in
        // docker-compose.yml or an empty ConfigMap value hands the process.
        let env = Env::from_map([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            ("OTEL_SERVICE_NAME", " "),
        ]);
        let config = TelemetryConfig::from_env(&env, "agent-runner-worker");
        assert_eq!(config, TelemetryConfig::logs_only("agent-runner-worker"));
    }

    #[test]
    fn set_variables_choose_the_collector_and_the_service_name() {
        // Surrounding blanks (a YAML block scalar's newline) are dropped.
        let env = Env::from_map([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", " http://collector:4318\n"),
            ("OTEL_SERVICE_NAME", "runner-api-eu"),
        ]);
        let config = TelemetryConfig::from_env(&env, "agent-runner-api");
        assert_eq!(
            config.otlp_endpoint.as_deref(),
            Some("http://collector:4318")
        );
        assert_eq!(config.service_name, "runner-api-eu");
    }
}

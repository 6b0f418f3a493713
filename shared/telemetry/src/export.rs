//! OTLP/HTTP (protobuf) export of spans, off unless
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set to a non-empty value, with the
//! headers of `OTEL_EXPORTER_OTLP_HEADERS` (a collector's credentials) on
//! every request. Spans are batched on a background thread;
//! [`crate::Telemetry::shutdown`] flushes what is left.

use agent_runner_config::{ConfigError, Env};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::HashMap;
use std::fmt;

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
    /// `OTEL_EXPORTER_OTLP_HEADERS`: headers sent with every export.
    pub otlp_headers: OtlpHeaders,
}

/// The variable holding the export's headers.
const HEADERS_VAR: &str = "OTEL_EXPORTER_OTLP_HEADERS";

impl TelemetryConfig {
    /// Reads the settings; `service_name` is the default service name.
    pub fn from_env(env: &Env, service_name: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            service_name: env
                .string("OTEL_SERVICE_NAME", service_name)
                .trim()
                .to_owned(),
            otlp_endpoint: env
                .raw("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|endpoint| endpoint.trim().to_owned()),
            otlp_headers: env
                .raw(HEADERS_VAR)
                .map(|value| OtlpHeaders::parse(&value))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// Logs only, no export.
    pub fn logs_only(service_name: &str) -> Self {
        Self {
            service_name: service_name.to_owned(),
            otlp_endpoint: None,
            otlp_headers: OtlpHeaders::default(),
        }
    }
}

/// Headers for the collector, as `OTEL_EXPORTER_OTLP_HEADERS` gives them:
/// `name=value` pairs separated by commas, values percent-encoded. Their
/// values (credentials) never show in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OtlpHeaders(Vec<(String, String)>);

impl OtlpHeaders {
    /// Headers from `(name, value)` pairs, values as sent.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(pairs.into_iter().collect())
    }

    /// Parses `name=value,name2=value2`; a pair without `=` or with a name
    /// that is no HTTP header name is an error naming its position (never
    /// its value).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut pairs = Vec::new();
        for (index, entry) in text.split(',').enumerate() {
            if entry.trim().is_empty() {
                continue;
            }
            let problem = |what: &str| ConfigError {
                var: HEADERS_VAR.to_owned(),
                message: format!(
                    "entry {} {what}; expected name=value pairs separated by commas",
                    index + 1
                ),
            };
            let Some((name, value)) = entry.split_once('=') else {
                return Err(problem("has no `=`"));
            };
            let name = name.trim();
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(problem("has no valid header name"));
            }
            let value = value.trim();
            if value.chars().any(char::is_control) {
                return Err(problem("has a control character in its value"));
            }
            pairs.push((name.to_owned(), value.to_owned()));
        }
        Ok(Self(pairs))
    }

    /// The header names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_str()).collect()
    }

    fn to_map(&self) -> HashMap<String, String> {
        self.0.iter().cloned().collect()
    }
}

impl fmt::Debug for OtlpHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name, "***")))
            .finish()
    }
}

/// Why the exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("OTEL_EXPORTER_OTLP_ENDPOINT: cannot build the OTLP exporter: {0}")]
pub struct ExportError(String);

/// A tracer provider exporting to `endpoint` (with `headers`) through a
/// batch processor.
pub fn provider(
    service_name: &str,
    endpoint: &str,
    headers: &OtlpHeaders,
) -> Result<SdkTracerProvider, ExportError> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        // The exporter percent-decodes the values.
        .with_headers(headers.to_map())
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
    fn headers_are_name_value_pairs_whose_values_never_show() {
        let env = Env::from_map([(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Bearer%20s3cret, x-tenant = eu-1,",
        )]);
        let config = TelemetryConfig::from_env(&env, "agent-runner-api").expect("config");
        assert_eq!(
            config.otlp_headers,
            OtlpHeaders::new([
                ("Authorization".to_owned(), "Bearer%20s3cret".to_owned()),
                ("x-tenant".to_owned(), "eu-1".to_owned()),
            ])
        );
        let shown = format!("{config:?}");
        assert!(
            shown.contains("Authorization") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn malformed_headers_name_the_variable_and_the_entry_but_not_the_value() {
        for (text, problem) in [
            ("a=1,s3cret", "entry 2 has no `=`"),
            ("=s3cret", "entry 1 has no valid header name"),
            ("bad name=s3cret", "entry 1 has no valid header name"),
            ("a=s3cret\u{7}", "entry 1 has a control character"),
        ] {
            let env = Env::from_map([("OTEL_EXPORTER_OTLP_HEADERS", text)]);
            let err = TelemetryConfig::from_env(&env, "agent-runner-api").expect_err(text);
            assert_eq!(err.var, "OTEL_EXPORTER_OTLP_HEADERS");
            assert!(err.message.contains(problem), "{text}: {err}");
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
    }
}

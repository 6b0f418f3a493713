//! The headers of `OTEL_EXPORTER_OTLP_HEADERS` (a collector's credentials):
//! parsed with the other settings, never shown, sent with every export as
//! HTTP headers or gRPC metadata.

use agent_runner_config::ConfigError;
use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use std::collections::HashMap;
use std::fmt;

/// The variable holding the export's headers.
pub(crate) const HEADERS_VAR: &str = "OTEL_EXPORTER_OTLP_HEADERS";

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

    /// As the HTTP exporter takes them (it percent-decodes the values).
    pub(crate) fn to_map(&self) -> HashMap<String, String> {
        self.0.iter().cloned().collect()
    }

    /// As gRPC metadata: names in lower case, values percent-decoded; a
    /// value that is no valid metadata value is an error naming its header.
    pub(crate) fn to_metadata(&self) -> Result<MetadataMap, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.0 {
            let key = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|_| format!("{HEADERS_VAR}: `{name}` is no gRPC metadata name"))?;
            let value = HeaderValue::try_from(percent_decode(value)).map_err(|_| {
                format!("{HEADERS_VAR}: the value of `{name}` is no gRPC metadata value")
            })?;
            headers.insert(key, value);
        }
        Ok(MetadataMap::from_headers(headers))
    }
}

impl fmt::Debug for OtlpHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name, "***")))
            .finish()
    }
}

/// `%XX` sequences decoded (as the OTLP exporters do for header values);
/// anything else, including a malformed sequence, kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TelemetryConfig;
    use agent_runner_config::Env;

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

    #[test]
    fn grpc_metadata_has_lower_case_names_and_decoded_values() {
        let headers =
            OtlpHeaders::parse("Authorization=Bearer%20s3cret,X-Tenant=eu%2C1%").expect("parsed");
        let metadata = headers.to_metadata().expect("metadata");
        assert_eq!(
            metadata.get("authorization").and_then(|v| v.to_str().ok()),
            Some("Bearer s3cret")
        );
        assert_eq!(
            metadata.get("x-tenant").and_then(|v| v.to_str().ok()),
            Some("eu,1%")
        );
    }
}

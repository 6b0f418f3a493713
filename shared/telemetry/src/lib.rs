//! Telemetry shared by the binaries: logs, W3C trace context and, when
//! configured, OpenTelemetry trace export over OTLP (HTTP or gRPC).
//!
//! - [`init`] installs the global `tracing` subscriber: `RUST_LOG` filters
//!   (default `info`), `LOG_FORMAT=json` gives one JSON object per line, logs
//!   go to stderr so stdout stays for command output. With
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are also exported.
//! - [`trace_context`]: the `traceparent` that travels from an api request
//!   through the outbox and the job message into the worker.
//! - [`spans`]: attaching a received `traceparent` to a span, and reading the
//!   one to pass on.
//! - [`export`]: the OTLP exporter (never on unless configured).
//! - [`otlp_headers`]: the collector's headers, never shown.
//! - [`otlp_certificate`]: CAs trusted for an `https://` collector.
//! - [`otlp_client_identity`]: the client certificate shown to a collector
//!   that asks for one (mutual TLS).
//! - [`otlp_http_client`]: the HTTP client OTLP/HTTP exports go through.

pub mod export;
pub mod otlp_certificate;
pub mod otlp_client_identity;
pub mod otlp_headers;
pub mod otlp_http_client;
pub mod spans;
mod subscriber;
pub mod trace_context;

pub use export::{OtlpProtocol, TelemetryConfig};
pub use otlp_certificate::CaCertificate;
pub use otlp_client_identity::ClientIdentity;
pub use otlp_headers::OtlpHeaders;
pub use subscriber::{Telemetry, TelemetryError, init, init_from_env};
pub use trace_context::{TRACEPARENT, TraceParent};

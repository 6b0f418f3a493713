//! The global `tracing` subscriber: an env filter, a human or JSON log
//! layer on stderr, and the OpenTelemetry layer when export is configured.

use crate::export::{self, ExportError, TelemetryConfig};
use agent_runner_config::{ConfigError, Env};
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Handle on the installed telemetry; flush it before the process exits.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// True when spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the spans still buffered; returns once they are sent (or
    /// the export failed).
    pub fn flush(&self) {
        if let Some(provider) = &self.provider
            && let Err(err) = provider.force_flush()
        {
            tracing::warn!(error = %err, "span export failed");
        }
    }

    /// Flushes and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown()
        {
            eprintln!("span export shutdown failed: {err}");
        }
    }
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A variable is malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The exporter could not be built.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// Reads [`TelemetryConfig`] from `env` (`service_name`: the default
/// service name) and installs the subscriber with it.
pub fn init_from_env(env: &Env, service_name: &str) -> Result<Telemetry, TelemetryError> {
    let config = TelemetryConfig::from_env(env, service_name)?;
    Ok(init(&config)?)
}

/// Installs the global subscriber. Later calls (tests) leave the first one
/// in place and export nothing.
pub fn init(config: &TelemetryConfig) -> Result<Telemetry, ExportError> {
    let provider = export::provider(config)?;
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("agent-runner"))
    });
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let logs = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        // Colours only on a terminal: a log file or a collector gets plain text.
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed()
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(otel)
        .try_init();
    match installed {
        Ok(()) => Ok(Telemetry { provider }),
        Err(_) => {
            if let Some(provider) = provider {
                let _stopped = provider.shutdown();
            }
            Ok(Telemetry::default())
        }
    }
}

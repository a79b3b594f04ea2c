//! Logging and metrics set-up, done once by `main` before any stage starts.
//!
//! Logs go to stderr through `tracing` (text or JSON); `RUST_LOG` wins over the configured
//! filter. Metrics are exposed in the Prometheus text format on the admin address, never on a
//! stage's public port.

use metrics_exporter_prometheus::PrometheusBuilder;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, TelemetryConfig};

/// Why telemetry could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error("invalid log filter {filter:?}: {reason}")]
    Filter {
        /// The filter text.
        filter: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A global subscriber or recorder was already installed.
    #[error("telemetry already initialised: {0}")]
    AlreadyInitialised(String),
    /// The metrics listener could not be started (address in use, ...).
    #[error("metrics endpoint could not start: {0}")]
    Metrics(String),
}

/// Installs the global log subscriber and, if configured, the Prometheus endpoint.
/// Must be called from within a tokio runtime when `metrics_addr` is set.
pub fn init(config: &TelemetryConfig) -> Result<(), TelemetryError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => from_env,
        _ => config.log_filter.clone(),
    };
    let env_filter = EnvFilter::try_new(&filter).map_err(|err| TelemetryError::Filter {
        filter,
        reason: err.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr);
    let installed = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|err| TelemetryError::AlreadyInitialised(err.to_string()))?;

    if let Some(addr) = config.metrics_addr {
        PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|err| TelemetryError::Metrics(format!("{addr}: {err}")))?;
        tracing::info!(%addr, "metrics endpoint listening");
    }
    Ok(())
}

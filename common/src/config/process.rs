//! The `[telemetry]` and `[shutdown]` sections: what every process sets up around its stage,
//! logging and metrics, and how long it may drain.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logging and metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Default filter when `RUST_LOG` is unset (tracing `EnvFilter` syntax).
    pub log_filter: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// Address of the admin listener serving Prometheus `/metrics`; none disables it.
    pub metrics_addr: Option<SocketAddr>,
    /// Base URL of an OTLP/HTTP receiver (a collector, `http://collector:4318`) spans are
    /// exported to; none (the default) exports nothing. Trace context is carried in Kafka
    /// headers either way.
    pub otlp_endpoint: Option<String>,
    /// Share of new traces sampled (0..=1); a request that arrives with a sampled
    /// `traceparent` is traced whatever this says.
    pub trace_sample_ratio: f64,
    /// `service.name` of the exported spans; default `notify-<stage>`.
    pub service_name: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_filter: "info,scylla=warn".into(),
            log_format: LogFormat::Text,
            metrics_addr: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            otlp_endpoint: None,
            trace_sample_ratio: 0.1,
            service_name: None,
        }
    }
}

/// Graceful shutdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// How long in-flight work may take to drain after SIGTERM before the process gives up.
    pub grace_period_ms: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            grace_period_ms: 30_000,
        }
    }
}

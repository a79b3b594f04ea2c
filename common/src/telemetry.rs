//! Logging and metrics set-up, done once by `main` before any stage starts.
//!
//! Logs go to stderr through `tracing` (text or JSON); `RUST_LOG` wins over the configured
//! filter. Metrics are exposed in the Prometheus text format on the admin address, never on a
//! stage's public port.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, TelemetryConfig};
use crate::health::Health;

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
    /// The OTLP span exporter could not be built.
    #[error("span exporter: {0}")]
    Tracing(String),
    /// The metrics listener could not be started (address in use, ...).
    #[error("metrics endpoint could not start: {0}")]
    Metrics(String),
}

/// Spans exported for the life of the process, flushed by [`flush`].
static TRACER: std::sync::OnceLock<opentelemetry_sdk::trace::SdkTracerProvider> =
    std::sync::OnceLock::new();

/// Installs the global log subscriber, the OTLP span exporter of `service` (`ingest`,
/// `router`, `dispatch-sms`, ...) when `otlp_endpoint` is set, and, if configured, the
/// Prometheus endpoint. Must be called from within a tokio runtime when `metrics_addr` is set.
///
/// The admin endpoint's `/readyz` answers from `health`, which the stage's loops update.
pub fn init(
    config: &TelemetryConfig,
    health: &Health,
    service: &str,
) -> Result<(), TelemetryError> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => from_env,
        _ => config.log_filter.clone(),
    };
    let env_filter = EnvFilter::try_new(&filter).map_err(|err| TelemetryError::Filter {
        filter,
        reason: err.to_string(),
    })?;
    let logs = match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(env_filter);
    let provider = crate::trace::provider(config, service).map_err(TelemetryError::Tracing)?;
    // the log filter does not decide which spans are exported: the stages' own spans always are
    let spans = provider.as_ref().map(|provider| {
        crate::trace::layer(provider).with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span() && meta.target().starts_with("notify")
        }))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init()
        .map_err(|err| TelemetryError::AlreadyInitialised(err.to_string()))?;
    if let Some(provider) = provider {
        tracing::info!(endpoint = ?config.otlp_endpoint, "exporting spans over OTLP");
        let _ = TRACER.set(provider);
    }

    if let Some(addr) = config.metrics_addr {
        let prometheus = PrometheusBuilder::new()
            // every duration is a histogram with the same buckets, so percentiles aggregate
            // across pods (`histogram_quantile` over `_bucket`)
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".to_owned()),
                &crate::metrics::LATENCY_BUCKETS,
            )
            .map_err(|err| TelemetryError::Metrics(format!("{addr}: {err}")))?
            .install_recorder()
            .map_err(|err| TelemetryError::Metrics(format!("{addr}: {err}")))?;
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std)
            .map_err(|err| TelemetryError::Metrics(format!("{addr}: {err}")))?;
        let app = admin_routes(prometheus, health.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(error = %err, "admin endpoint stopped");
            }
        });
        tracing::info!(%addr, "admin endpoint listening (/metrics, /healthz, /readyz)");
    }
    Ok(())
}

/// Exports the spans still batched, waiting at most a few seconds; a no-op without an
/// exporter. Called once a stage has drained.
pub fn flush() {
    if let Some(provider) = TRACER.get() {
        if let Err(err) = provider.force_flush() {
            tracing::warn!(error = %err, "last spans not exported");
        }
    }
}

/// `/metrics` (Prometheus text), `/healthz` (the process serves, and no Kafka consumer of it
/// has been out of its group too long: [`crate::group_watch`]; else 503 saying which) and
/// `/readyz` (every [`Health`] check passes: 200, else 503, with the checks as JSON).
pub fn admin_routes(prometheus: PrometheusHandle, health: Health) -> axum::Router {
    use axum::http::StatusCode;
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        )
        .route(
            "/healthz",
            get(|| {
                std::future::ready(match crate::group_watch::not_alive() {
                    None => (StatusCode::OK, "ok".to_owned()),
                    Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
                })
            }),
        )
        .route(
            "/readyz",
            get(move || {
                let report = health.report();
                let code = if report.ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                std::future::ready((code, axum::Json(report)))
            }),
        )
}

//! `/healthz` (the process is serving) and `/readyz` (Kafka and the database answer).
//!
//! Both are public, so they say only ready or not: why a dependency fails goes to the log and
//! to [`DEPENDENCY_READY`], never into the answer. `/readyz` answers from [`ReadyCache`], so
//! probing it often costs no more than one check per `ingest.ready_check_interval_ms`.
//!
//! [`ReadyCache`]: crate::readiness::ReadyCache

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::metrics::DEPENDENCY_READY;
use crate::state::AppState;

/// How long each dependency may take to answer a check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the gateway can take requests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
}

/// Liveness: answers 200 while the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "serving")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 when Kafka and the database both answered the last check, else 503.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "ready", body = Readiness),
        (status = 503, description = "a dependency does not answer (details in the logs)", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    if state.readiness.ready(|| check(&state)).await {
        (StatusCode::OK, Json(Readiness { status: "ready" }))
    } else {
        let status = "not_ready";
        (StatusCode::SERVICE_UNAVAILABLE, Json(Readiness { status }))
    }
}

/// Asks Kafka and the database once; logs and records each one's state.
async fn check(state: &AppState) -> bool {
    let publisher = state.publisher.clone();
    let topic = state.requests_topic.clone();
    let kafka = tokio::task::spawn_blocking(move || publisher.check(&topic, CHECK_TIMEOUT));
    let database = tokio::time::timeout(CHECK_TIMEOUT, state.ledger.check());
    let (kafka, database) = tokio::join!(kafka, database);
    let kafka = match kafka {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(err) => Err(err.to_string()),
    };
    let database = match database {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    };
    let mut ready = true;
    for (dependency, outcome) in [("kafka", kafka), ("database", database)] {
        metrics::gauge!(DEPENDENCY_READY, "dependency" => dependency)
            .set(f64::from(u8::from(outcome.is_ok())));
        if let Err(error) = outcome {
            tracing::warn!(dependency, %error, "readiness check failed");
            ready = false;
        }
    }
    ready
}

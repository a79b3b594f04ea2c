//! `/healthz` (the process is serving) and `/readyz` (Kafka and the database answer).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::state::AppState;

/// Readiness of each dependency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ok` or the reason Kafka is not usable.
    pub kafka: String,
    /// `ok` or the reason the database is not usable.
    pub database: String,
}

/// Liveness: answers 200 while the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "serving")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 when Kafka and the database both answer, else 503 naming which does not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "ready", body = Readiness),
        (status = 503, description = "a dependency does not answer", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let publisher = state.publisher.clone();
    let topic = state.requests_topic.clone();
    let kafka =
        tokio::task::spawn_blocking(move || publisher.check(&topic, Duration::from_secs(2)));
    let database = tokio::time::timeout(Duration::from_secs(2), state.ledger.check());
    let (kafka, database) = tokio::join!(kafka, database);
    let kafka = match kafka {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(err)) => err.to_string(),
        Err(err) => err.to_string(),
    };
    let database = match database {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(err)) => err.to_string(),
        Err(_) => "no answer within 2 s".to_owned(),
    };
    let status = if kafka == "ok" && database == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Readiness { kafka, database }))
}

//! The fake APNs push endpoint: checks, faults, `invalid_tokens`, payload limits, then the
//! ledger; errors answer with APNs' `{"reason": ...}` body.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::{SimState, MAX_PAYLOAD_BYTES};
use crate::fault_acting::{act_out_next, answer_accepted, Acted};
use crate::ledger::now_ms;
use crate::tls::ConnectionKill;

pub(super) async fn bad_path() -> Response {
    error(StatusCode::NOT_FOUND, "BadPath", None)
}

pub(super) async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", None)
}

fn error(status: StatusCode, reason: &str, apns_id: Option<&HeaderValue>) -> Response {
    let mut response = (status, Json(json!({ "reason": reason }))).into_response();
    if let Some(id) = apns_id {
        response.headers_mut().insert("apns-id", id.clone());
    }
    response
}

/// The APNs reason a status fault answers with.
fn fault_reason(code: u16) -> &'static str {
    match code {
        400 => "BadDeviceToken",
        403 => "ExpiredProviderToken",
        404 => "BadPath",
        405 => "MethodNotAllowed",
        410 => "Unregistered",
        413 => "PayloadTooLarge",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalServerError",
    }
}

pub(super) async fn push(
    State(state): State<Arc<SimState>>,
    Path(token): Path<String>,
    kill: Option<Extension<ConnectionKill>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let faults = &state.control.faults;
    tokio::time::sleep(faults.latency()).await;
    let apns_id = headers.get("apns-id");
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bearer "))
        .map(str::to_owned);
    *state.last_token.lock().unwrap_or_else(|e| e.into_inner()) = bearer;

    if let Err(reason) = state.authenticate(&headers) {
        return error(StatusCode::FORBIDDEN, reason, apns_id);
    }
    if let Err(reason) = state.check_request(&token, &headers) {
        return error(StatusCode::BAD_REQUEST, reason, apns_id);
    }

    let acted = act_out_next(faults, &token, kill).await;
    match &acted {
        Some(Acted::Status(fault)) => {
            let status =
                StatusCode::from_u16(fault.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let response = if fault.code == 410 {
                let body = json!({ "reason": "Unregistered", "timestamp": now_ms() });
                (status, Json(body)).into_response()
            } else {
                error(status, fault_reason(fault.code), apns_id)
            };
            return fault.with_retry_after(response);
        }
        Some(Acted::NotDropped) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                None,
            );
        }
        Some(Acted::DropAfterAccept(_)) | None => {}
    }

    if let Some(since) = faults.invalid_since(&token) {
        let body = json!({ "reason": "Unregistered", "timestamp": since });
        let mut response = (StatusCode::GONE, Json(body)).into_response();
        if let Some(id) = apns_id {
            response.headers_mut().insert("apns-id", id.clone());
        }
        return response;
    }

    if body.is_empty() {
        return error(StatusCode::BAD_REQUEST, "PayloadEmpty", apns_id);
    }
    if body.len() > MAX_PAYLOAD_BYTES {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge", apns_id);
    }
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        // Not a reason Apple documents: the simulator's own word for a payload that is not JSON.
        Err(_) => return error(StatusCode::BAD_REQUEST, "BadPayload", apns_id),
    };
    let Some(aps) = payload.get("aps").and_then(Value::as_object) else {
        return error(StatusCode::BAD_REQUEST, "BadPayload", apns_id);
    };

    let message_id = apns_id
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let delivery_id = apns_id.and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut summary = match aps.get("alert") {
        Some(Value::Object(alert)) => alert.clone(),
        Some(other) => serde_json::Map::from_iter([("alert".to_owned(), other.clone())]),
        None => serde_json::Map::new(),
    };
    for name in [
        "apns-priority",
        "apns-expiration",
        "apns-collapse-id",
        "apns-push-type",
    ] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            summary.insert(name.to_owned(), Value::String(value.to_owned()));
        }
    }
    state.control.ledger.record(
        "apns",
        delivery_id,
        &token,
        &message_id,
        Value::Object(summary),
    );
    let mut response = StatusCode::OK.into_response();
    if let Ok(value) = HeaderValue::from_str(&message_id) {
        response.headers_mut().insert("apns-id", value);
    }
    answer_accepted(acted.as_ref(), response).await
}

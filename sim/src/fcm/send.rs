//! The fake `messages:send`: checks the bearer token and the message the way FCM validates it,
//! acts out faults, and records what it accepted.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{SimState, FCM_ERROR_TYPE, MAX_DATA_BYTES};
use crate::fault_acting::{act_out_next, answer_accepted, Acted};
use crate::tls::ConnectionKill;

/// An FCM v1 error answer; `error_code` adds the FcmError detail.
fn fcm_error(code: u16, message: &str, error_code: Option<&str>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let rpc_status = match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    let mut error = json!({ "code": code, "message": message, "status": rpc_status });
    if let Some(error_code) = error_code {
        error["details"] = json!([{ "@type": FCM_ERROR_TYPE, "errorCode": error_code }]);
    }
    (status, Json(json!({ "error": error }))).into_response()
}

/// The FCM error code a status fault answers with.
fn fault_error_code(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "THIRD_PARTY_AUTH_ERROR",
        403 => "SENDER_ID_MISMATCH",
        404 => "UNREGISTERED",
        429 => "QUOTA_EXCEEDED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

/// Checks a message the way FCM validates it; the error is the INVALID_ARGUMENT message.
fn check_message(message: &Value) -> Result<&str, String> {
    let object = message.as_object().ok_or("message must be an object")?;
    let targets = ["token", "topic", "condition"]
        .iter()
        .filter(|t| object.contains_key(**t))
        .count();
    if targets != 1 {
        return Err("exactly one of token, topic or condition is required".to_owned());
    }
    let token = object
        .get("token")
        .and_then(Value::as_str)
        .ok_or("only token targets are simulated")?;
    if token.is_empty() {
        return Err("The registration token is not a valid FCM registration token".to_owned());
    }
    if let Some(data) = object.get("data") {
        let data = data.as_object().ok_or("data must be a map")?;
        let mut size = 0;
        for (key, value) in data {
            let value = value
                .as_str()
                .ok_or_else(|| format!("data value for {key} must be a string"))?;
            let reserved = ["from", "message_type", "notification"].contains(&key.as_str())
                || key.starts_with("google")
                || key.starts_with("gcm");
            if reserved {
                return Err(format!("invalid data key: {key}"));
            }
            size += key.len() + value.len();
        }
        if size > MAX_DATA_BYTES {
            return Err("Message is too big".to_owned());
        }
    }
    if let Some(android) = object.get("android") {
        if let Some(priority) = android.get("priority") {
            if !matches!(priority.as_str(), Some("NORMAL" | "HIGH")) {
                return Err("invalid android priority".to_owned());
            }
        }
        if let Some(ttl) = android.get("ttl") {
            let valid = ttl
                .as_str()
                .and_then(|t| t.strip_suffix('s'))
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(|t| (0.0..=2_419_200.0).contains(&t));
            if !valid {
                return Err("invalid android ttl".to_owned());
            }
        }
    }
    Ok(token)
}

#[derive(Deserialize)]
pub(super) struct SendRequest {
    #[serde(default)]
    validate_only: bool,
    message: Value,
}

pub(super) async fn send(
    State(state): State<Arc<SimState>>,
    Path(project): Path<String>,
    kill: Option<Extension<ConnectionKill>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    state.sends.fetch_add(1, Ordering::Relaxed);
    let faults = &state.control.faults;
    tokio::time::sleep(faults.latency()).await;
    if !state.bearer_ok(&headers) {
        let message = "Request had invalid authentication credentials.";
        return fcm_error(401, message, None);
    }
    if project != state.project_id {
        return fcm_error(404, "Requested entity was not found.", None);
    }
    let request: SendRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => return fcm_error(400, "Invalid JSON payload received.", None),
    };
    let token = match check_message(&request.message) {
        Ok(token) => token.to_owned(),
        Err(message) => return fcm_error(400, &message, Some("INVALID_ARGUMENT")),
    };

    let acted = act_out_next(faults, &token, kill).await;
    match &acted {
        Some(Acted::Status(fault)) => {
            let response = fcm_error(
                fault.code,
                "simulated failure",
                Some(fault_error_code(fault.code)),
            );
            return fault.with_retry_after(response);
        }
        Some(Acted::NotDropped) => {
            return fcm_error(500, "Internal error encountered.", Some("INTERNAL"));
        }
        Some(Acted::DropAfterAccept(_)) | None => {}
    }
    if faults.invalid_since(&token).is_some() {
        return fcm_error(404, "Requested entity was not found.", Some("UNREGISTERED"));
    }

    let name = format!(
        "projects/{}/messages/{}",
        state.project_id,
        uuid::Uuid::new_v4().simple()
    );
    if !request.validate_only {
        let delivery_id = request
            .message
            .pointer("/data/notify_delivery_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut summary = request.message.clone();
        if let Some(object) = summary.as_object_mut() {
            object.remove("token");
        }
        state
            .control
            .ledger
            .record("fcm", delivery_id, &token, &name, summary);
    }
    answer_accepted(
        acted.as_ref(),
        Json(json!({ "name": name })).into_response(),
    )
    .await
}

//! Fake SendGrid v3 Mail Send: `POST /v3/mail/send`, JSON.
//!
//! Checks, answering in SendGrid's format (`{"errors":[{"message","field","help"}]}`): the
//! bearer API key (401), a body of at most `max_body_bytes` (413), JSON (400), at least one
//! personalization with at least one `to` (`personalizations.N.to`), valid addresses
//! (`personalizations.N.to.M.email`, `from.email`), a subject (top level or per
//! personalization), `custom_args` as the published OpenAPI document types it (a string at the
//! top level, an object of strings per personalization), and `content` with non-empty values
//! and `text/plain` first.
//!
//! Faults for the first recipient: 429 answers with `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` (epoch seconds, now + `retry_after_s`
//! or 1) and no `Retry-After`, as SendGrid does; other statuses answer SendGrid's error body
//! with `Retry-After` when set. An accepted message answers 202 with `X-Message-Id` and is
//! recorded with the first personalization's `custom_args.delivery_id` as the delivery id and the subject, text and HTML as the summary.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::fault_acting::act_out;
use crate::rest::{RestSim, RestState};
use crate::sendgrid_events::EventWebhook;
use crate::tls::{ConnectionKill, SimError};

/// The account and limits the fake SendGrid enforces.
#[derive(Debug, Clone)]
pub struct SendGridSimSettings {
    /// The API key clients must send as `Authorization: Bearer <key>`.
    pub api_key: String,
    /// Largest request body accepted; SendGrid's limit is 30 MB.
    pub max_body_bytes: usize,
    /// The signed Event Webhook: where the events of accepted messages are posted, once set.
    pub events: Arc<EventWebhook>,
}

impl SendGridSimSettings {
    /// Settings with SendGrid's own body limit.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            max_body_bytes: 30 * 1024 * 1024,
            events: EventWebhook::new(),
        }
    }
}

/// A running fake SendGrid. Dropping it stops the server.
pub type SendGridSim = RestSim;

type SimState = RestState<SendGridSimSettings>;

/// Starts a fake SendGrid (plain HTTP) on `listener`, with `/_sim/` control routes. Must be
/// called inside a Tokio runtime.
pub fn serve(
    listener: TcpListener,
    settings: SendGridSimSettings,
) -> Result<SendGridSim, SimError> {
    // Read one byte past the limit ourselves so the 413 is in SendGrid's format.
    let limit = settings.max_body_bytes.saturating_add(1);
    let routes = Router::new()
        .route("/v3/mail/send", post(send))
        .route("/v3/user/webhooks/event/settings", patch(event_settings))
        .layer(DefaultBodyLimit::max(limit));
    RestSim::serve(listener, settings, routes)
}

fn error(status: u16, field: Option<&str>, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "errors": [{ "message": message, "field": field, "help": null }] });
    (status, Json(body)).into_response()
}

/// The 401 SendGrid answers unless the request carries `Authorization: Bearer <api_key>`.
fn refusal(headers: &HeaderMap, api_key: &str) -> Option<Response> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let message = "The provided authorization grant is invalid, expired, or revoked";
    (bearer != Some(api_key)).then(|| error(401, None, message))
}

fn valid_address(value: &Value) -> bool {
    value.as_str().is_some_and(|a| {
        a.rsplit_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !a.contains(char::is_whitespace)
        })
    })
}

/// Checks the request body; `Err` is the field and message of the first problem.
fn check(mail: &Value) -> Result<String, (String, &'static str)> {
    let personalizations = mail["personalizations"]
        .as_array()
        .filter(|p| !p.is_empty())
        .ok_or((
            "personalizations".into(),
            "The personalizations field is required and must have at least one personalization.",
        ))?;
    for (i, p) in personalizations.iter().enumerate() {
        let to = p["to"].as_array().filter(|t| !t.is_empty()).ok_or((
            format!("personalizations.{i}.to"),
            "The to array is required for all personalization objects, and must have at least one email object with a valid email address.",
        ))?;
        for (j, recipient) in to.iter().enumerate() {
            if !valid_address(&recipient["email"]) {
                let field = format!("personalizations.{i}.to.{j}.email");
                return Err((field, "Does not contain a valid address."));
            }
        }
        let args = &p["custom_args"];
        if !args.is_null()
            && !args
                .as_object()
                .is_some_and(|a| a.values().all(Value::is_string))
        {
            return Err((
                format!("personalizations.{i}.custom_args"),
                "Custom args must be an object of string values.",
            ));
        }
        if mail["subject"].as_str().is_none_or(str::is_empty)
            && p["subject"].as_str().is_none_or(str::is_empty)
        {
            return Err(("subject".into(), "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined."));
        }
    }
    // SendGrid's published OpenAPI document types the top-level custom_args as a string
    if !mail["custom_args"].is_null() && !mail["custom_args"].is_string() {
        return Err((
            "custom_args".into(),
            "Invalid type. Expected: string, given: object.",
        ));
    }
    if !valid_address(&mail["from"]["email"]) {
        return Err((
            "from.email".into(),
            "The from email does not contain a valid address.",
        ));
    }
    let content = mail["content"].as_array().filter(|c| !c.is_empty()).ok_or((
        "content".to_owned(),
        "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.",
    ))?;
    for (i, part) in content.iter().enumerate() {
        if part["value"].as_str().is_none_or(str::is_empty) {
            return Err((
                format!("content.{i}.value"),
                "The content value must be a string at least one character in length.",
            ));
        }
        if i > 0 && part["type"] == "text/plain" {
            return Err((
                "content.0.type".into(),
                "If present, text/plain content must be first, followed by any other content.",
            ));
        }
    }
    Ok(personalizations[0]["to"][0]["email"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

fn content(mail: &Value, kind: &str) -> Value {
    mail["content"]
        .as_array()
        .and_then(|c| c.iter().find(|p| p["type"] == kind))
        .map(|p| p["value"].clone())
        .unwrap_or(Value::Null)
}

async fn send(
    State(state): State<Arc<SimState>>,
    kill: Option<Extension<ConnectionKill>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = refusal(&headers, &state.settings.api_key) {
        return refused;
    }
    if body.len() > state.settings.max_body_bytes {
        return error(413, None, "Payload Too Large");
    }
    let Ok(mail) = serde_json::from_slice::<Value>(&body) else {
        return error(400, None, "Bad Request");
    };
    let to = match check(&mail) {
        Ok(to) => to,
        Err((field, message)) => return error(400, Some(&field), message),
    };
    if let Some(fault) = act_out(&state.control.faults, &to, kill).await {
        if fault.code == 429 {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let reset = now + fault.retry_after_s.unwrap_or(1);
            let mut response = error(429, None, "too many requests");
            let h = response.headers_mut();
            h.insert("x-ratelimit-limit", HeaderValue::from(600u32));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0u32));
            h.insert("x-ratelimit-reset", HeaderValue::from(reset));
            return response;
        }
        let response = error(fault.code, None, "simulated failure");
        return fault.with_retry_after(response);
    }

    let delivery_id = mail["personalizations"][0]["custom_args"]["delivery_id"]
        .as_str()
        .map(str::to_owned);
    let message_id = uuid::Uuid::new_v4().simple().to_string()[..22].to_owned();
    let subject = mail["personalizations"][0]["subject"]
        .as_str()
        .or(mail["subject"].as_str());
    state.control.ledger.record(
        "sendgrid",
        delivery_id,
        &to,
        &message_id,
        json!({
            "subject": subject,
            "from": mail["from"]["email"],
            "reply_to": mail["reply_to"]["email"],
            "text": content(&mail, "text/plain"),
            "html": content(&mail, "text/html"),
            "headers": mail["headers"],
        }),
    );
    let bodies = ["text/html", "text/plain"].map(|kind| content(&mail, kind));
    crate::recipient::Recipient::default()
        .read(&bodies.each_ref().map(|b| b.as_str().unwrap_or("")));
    let custom_args = &mail["personalizations"][0]["custom_args"];
    state
        .settings
        .events
        .report_delivery(&to, &message_id, custom_args);
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(value) = HeaderValue::from_str(&message_id) {
        response.headers_mut().insert("x-message-id", value);
    }
    response
}

/// `PATCH /v3/user/webhooks/event/settings`: turns the Event Webhook on at `url` (`enabled`
/// false turns it off), as SendGrid's settings API does.
async fn event_settings(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Json(settings): Json<Value>,
) -> Response {
    if let Some(refused) = refusal(&headers, &state.settings.api_key) {
        return refused;
    }
    let enabled = settings["enabled"].as_bool().unwrap_or(false);
    let url = settings["url"].as_str().filter(|u| u.starts_with("http"));
    if enabled && url.is_none() {
        return error(400, Some("url"), "url is required when enabled is true");
    }
    let url = url.filter(|_| enabled).map(str::to_owned);
    state.settings.events.set_url(url.clone());
    (
        StatusCode::OK,
        Json(json!({ "enabled": enabled, "url": url.unwrap_or_default() })),
    )
        .into_response()
}

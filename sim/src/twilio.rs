//! Fake Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
//!
//! Checks, in Twilio's order and error format (`{"code","message","more_info","status"}`):
//! HTTP Basic auth `AccountSid:AuthToken` matching the path (401, 20003), a form-encoded body,
//! `To` present (21604), `From` or `MessagingServiceSid` present (21603), `Body` present
//! (21602) and at most 1600 characters (21617), `To` in E.164 (21211). Twilio's test numbers
//! answer as Twilio documents them: `+15005550001` invalid (21211), `+15005550002` unroutable
//! (21612), `+15005550004` unsubscribed (21610), `+15005550009` not SMS-capable (21614).
//!
//! Then faults for the `To` number: 429 answers code 20429 with `Retry-After`, other statuses
//! answer code 20500 (5xx) or the status itself. An accepted message answers 201 with a Message
//! resource (`sid` `SM…`, `status` `queued`) and is recorded in the ledger with the delivery id
//! from `StatusCallback`'s `delivery_id` query parameter or, failing that, the
//! `X-Notify-Delivery-Id` header. With a `StatusCallback`, the fake then calls it back as Twilio
//! does (`sent`, then `delivered`, 200 ms later), signed with `X-Twilio-Signature`.
//!
//! `POST /_sim/inbound` with `{"url", "from", "body"}` plays a user texting the account's number:
//! the fake posts the message to `url` as Twilio posts an incoming message to a number's webhook
//! (form fields `MessageSid`, `AccountSid`, `From`, `To`, `Body`, `NumMedia`), signed, and
//! answers with the status and body it got back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Form, Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;
use tokio::net::TcpListener;

use crate::fault_acting::act_out;
use crate::rest::{RestSim, RestState};
use crate::tls::{ConnectionKill, SimError};

/// The account the fake Twilio accepts.
#[derive(Debug, Clone)]
pub struct TwilioSimSettings {
    /// Account SID, the Basic auth user and the path segment.
    pub account_sid: String,
    /// Auth token, the Basic auth password.
    pub auth_token: String,
}

/// A running fake Twilio. Dropping it stops the server.
pub type TwilioSim = RestSim;

type SimState = RestState<TwilioSimSettings>;

/// Starts a fake Twilio (plain HTTP) on `listener`, with `/_sim/` control routes. Must be
/// called inside a Tokio runtime.
pub fn serve(listener: TcpListener, settings: TwilioSimSettings) -> Result<TwilioSim, SimError> {
    let routes = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(create))
        .route("/_sim/inbound", post(inbound));
    RestSim::serve(listener, settings, routes)
}

/// Whether `number` is `+` and 8 to 15 digits, the first not 0.
fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

fn twilio_error(status: u16, code: u32, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

fn authorized(headers: &HeaderMap, settings: &TwilioSimSettings, path_sid: &str) -> bool {
    let Some(encoded) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(pair) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, password)) = pair.split_once(':') else {
        return false;
    };
    user == settings.account_sid && path_sid == user && password == settings.auth_token
}

/// The documented test numbers and the error each one answers with.
fn magic_number(to: &str) -> Option<(u32, &'static str)> {
    match to {
        "+15005550001" => Some((21211, "The 'To' number is not a valid phone number.")),
        "+15005550002" => Some((21612, "The 'To' phone number is not currently reachable.")),
        "+15005550004" => Some((21610, "Attempt to send to unsubscribed recipient")),
        "+15005550009" => Some((21614, "'To' number is not a valid mobile number")),
        _ => None,
    }
}

async fn create(
    State(state): State<Arc<SimState>>,
    Path(sid): Path<String>,
    kill: Option<Extension<ConnectionKill>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    if !authorized(&headers, &state.settings, &sid) {
        return twilio_error(401, 20003, "Authenticate");
    }
    let Ok(Form(form)) = form else {
        return twilio_error(400, 21604, "A 'To' phone number is required.");
    };
    let field = |name: &str| form.get(name).filter(|v| !v.is_empty());
    let Some(to) = field("To") else {
        return twilio_error(400, 21604, "A 'To' phone number is required.");
    };
    let sender = field("MessagingServiceSid").or(field("From"));
    let Some(sender) = sender else {
        return twilio_error(400, 21603, "A 'From' phone number is required.");
    };
    let Some(body) = field("Body") else {
        return twilio_error(400, 21602, "Message body is required.");
    };
    if body.chars().count() > 1600 {
        let message = "The concatenated message body exceeds the 1600 character limit.";
        return twilio_error(400, 21617, message);
    }
    if !is_e164(to) {
        return twilio_error(400, 21211, "The 'To' number is not a valid phone number.");
    }
    if let Some((code, message)) = magic_number(to) {
        return twilio_error(400, code, message);
    }
    if let Some(fault) = act_out(&state.control.faults, to, kill).await {
        let response = match fault.code {
            429 => twilio_error(429, 20429, "Too Many Requests"),
            code @ 500..=599 => twilio_error(code, 20500, "Internal Server Error"),
            code => twilio_error(code, u32::from(code), "Simulated failure"),
        };
        return fault.with_retry_after(response);
    }

    let callback = field("StatusCallback");
    let delivery_id = callback
        .and_then(|url| url.split_once('?'))
        .and_then(|(_, query)| {
            query.split('&').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                (key == "delivery_id").then(|| value.to_owned())
            })
        })
        .or_else(|| {
            headers
                .get("x-notify-delivery-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
    let message_sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    state.control.ledger.record(
        "twilio",
        delivery_id,
        to,
        &message_sid,
        json!({ "text": body, "from": sender, "status_callback": callback }),
    );
    let resource = json!({
        "sid": message_sid,
        "account_sid": sid,
        "to": to,
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "body": body,
        "status": if form.contains_key("MessagingServiceSid") { "accepted" } else { "queued" },
        "num_segments": "1",
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "api_version": "2010-04-01",
        "uri": format!("/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json"),
    });
    if let Some(url) = callback {
        let params = [
            ("AccountSid", sid.as_str()),
            ("ApiVersion", "2010-04-01"),
            ("From", sender.as_str()),
            ("MessageSid", message_sid.as_str()),
            ("SmsSid", message_sid.as_str()),
            ("To", to.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        tokio::spawn(report_delivery(
            url.clone(),
            params.to_vec(),
            state.settings.auth_token.clone(),
        ));
    }
    (StatusCode::CREATED, Json(resource)).into_response()
}

/// How long after accepting a message the fake reports it delivered.
const DELIVERY_DELAY: Duration = Duration::from_millis(200);

/// Calls `url` back as Twilio does once the carrier has the message: `sent`, then `delivered`,
/// form-encoded and signed. A refused callback is logged, not retried (Twilio does not retry
/// status callbacks either).
async fn report_delivery(url: String, params: Vec<(String, String)>, auth_token: String) {
    tokio::time::sleep(DELIVERY_DELAY).await;
    let client = reqwest::Client::new();
    for status in ["sent", "delivered"] {
        let mut form = params.clone();
        form.push(("MessageStatus".to_owned(), status.to_owned()));
        form.push(("SmsStatus".to_owned(), status.to_owned()));
        let signature = twilio_signature(&auth_token, &url, &form);
        let request = client
            .post(&url)
            .header("X-Twilio-Signature", signature)
            .form(&form);
        crate::rest::post_webhook(request, &url, "status callback").await;
    }
}

/// The number the fake's users text.
const ACCOUNT_NUMBER: &str = "+15005550006";

/// A user's message to play.
#[derive(Debug, serde::Deserialize)]
struct Inbound {
    url: String,
    from: String,
    body: String,
}

async fn inbound(State(state): State<Arc<SimState>>, Json(message): Json<Inbound>) -> Response {
    let form: Vec<(String, String)> = [
        ("MessageSid", format!("SM{}", uuid::Uuid::new_v4().simple())),
        ("AccountSid", state.settings.account_sid.clone()),
        ("From", message.from),
        ("To", ACCOUNT_NUMBER.to_owned()),
        ("Body", message.body),
        ("NumMedia", "0".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .to_vec();
    let signature = twilio_signature(&state.settings.auth_token, &message.url, &form);
    let answer = reqwest::Client::new()
        .post(&message.url)
        .header("X-Twilio-Signature", signature)
        .form(&form)
        .send()
        .await;
    match answer {
        Ok(answer) => {
            let status = answer.status().as_u16();
            let body = answer.text().await.unwrap_or_default();
            Json(json!({"status": status, "body": body})).into_response()
        }
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}

/// `X-Twilio-Signature` as Twilio computes it: base64 of HMAC-SHA1, keyed with the auth token,
/// over the URL followed by each form field's name and value, fields in name order.
pub fn twilio_signature(auth_token: &str, url: &str, form: &[(String, String)]) -> String {
    let mut by_name = form.to_vec();
    by_name.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let signed: String = std::iter::once(url.to_owned())
        .chain(by_name.into_iter().flat_map(|(name, value)| [name, value]))
        .collect();
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        auth_token.as_bytes(),
    );
    let tag = ring::hmac::sign(&key, signed.as_bytes());
    STANDARD.encode(tag.as_ref())
}

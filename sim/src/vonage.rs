//! Fake Vonage (Nexmo) legacy SMS API: `POST /sms/json`, form-encoded.
//!
//! Like Vonage, it answers HTTP 200 for every request it parsed, with the outcome per message
//! part in `messages[].status` (a string): `"2"` missing parameter (`api_key`, `api_secret`,
//! `from`, `to`, `text`), `"4"` bad credentials, `"3"` invalid `to` (not 7 to 15 digits, or a
//! leading 0), `"6"` unroutable (a `to` starting with `999`), `"12"` message too long, `"0"`
//! accepted (one part per 153 GSM / 67 unicode characters once split).
//!
//! Faults for the `to` number: 429 answers 200 with status `"1"` (throttled), the way Vonage
//! reports throughput limits; any other status is a real HTTP error (a load balancer in
//! trouble), with `Retry-After` when set. Accepted messages are recorded with `client-ref` as
//! the delivery id and `to` as sent (digits, no `+`).
//!
//! A message sent with `status-report-req=1` and a `callback` URL gets a delivery receipt there,
//! 200 ms later, as Vonage posts one (form-encoded: `msisdn`, `to`, `network-code`,
//! `messageId`, `price`, `status=delivered`, `scts`, `err-code=0`, `api-key`, `client-ref`,
//! `message-timestamp`, `timestamp`, `nonce`), signed with the account's signature secret:
//! `sig` = hex HMAC-SHA256 over the other parameters sorted by name, each as `&name=value` with
//! `&` and `=` in values replaced by `_`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Form, Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::fault_acting::act_out;
use crate::rest::{RestSim, RestState};
use crate::tls::{ConnectionKill, SimError};

/// The account the fake Vonage accepts.
#[derive(Debug, Clone)]
pub struct VonageSimSettings {
    /// API key.
    pub api_key: String,
    /// API secret.
    pub api_secret: String,
    /// Signature secret, which delivery receipts are signed with (HMAC-SHA256).
    pub signature_secret: String,
}

/// A running fake Vonage. Dropping it stops the server.
pub type VonageSim = RestSim;

type SimState = RestState<VonageSimSettings>;

/// Starts a fake Vonage (plain HTTP) on `listener`, with `/_sim/` control routes. Must be
/// called inside a Tokio runtime.
pub fn serve(listener: TcpListener, settings: VonageSimSettings) -> Result<VonageSim, SimError> {
    let routes = Router::new().route("/sms/json", post(send));
    RestSim::serve(listener, settings, routes)
}

fn rejected(status: &str, text: &str) -> Response {
    let body = json!({
        "message-count": "1",
        "messages": [{ "status": status, "error-text": text }],
    });
    (StatusCode::OK, Json(body)).into_response()
}

fn parts(text: &str, unicode: bool) -> usize {
    let units = if unicode {
        text.encode_utf16().count()
    } else {
        text.chars().count()
    };
    let (single, per_part) = if unicode { (70, 67) } else { (160, 153) };
    if units <= single {
        1
    } else {
        units.div_ceil(per_part)
    }
}

async fn send(
    State(state): State<Arc<SimState>>,
    kill: Option<Extension<ConnectionKill>>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return rejected("2", "Missing api_key");
    };
    let field = |name: &str| form.get(name).filter(|v| !v.is_empty());
    let (Some(key), Some(secret)) = (field("api_key"), field("api_secret")) else {
        return rejected("2", "Missing api_key or api_secret");
    };
    if *key != state.settings.api_key || *secret != state.settings.api_secret {
        return rejected("4", "Bad Credentials");
    }
    let (Some(from), Some(to), Some(text)) = (field("from"), field("to"), field("text")) else {
        return rejected("2", "Missing from, to or text param");
    };
    let digits_ok = (7..=15).contains(&to.len()) && to.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok || to.starts_with('0') {
        return rejected("3", "Invalid to address");
    }
    if to.starts_with("999") {
        return rejected("6", "Unroutable message - rejected");
    }
    let unicode = form.get("type").map(String::as_str) == Some("unicode");
    let count = parts(text, unicode);
    if count > 10 {
        return rejected("12", "Message too long");
    }
    if let Some(fault) = act_out(&state.control.faults, to, kill).await {
        if fault.code == 429 {
            return rejected(
                "1",
                "Throughput Rate Exceeded - please wait [ 1000 ] and retry",
            );
        }
        let status = StatusCode::from_u16(fault.code).unwrap_or(StatusCode::BAD_GATEWAY);
        let response = (status, "simulated failure").into_response();
        return fault.with_retry_after(response);
    }

    let client_ref = field("client-ref").cloned();
    let ids: Vec<String> = (0..count)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    state.control.ledger.record(
        "vonage",
        client_ref.clone(),
        to,
        &ids[0],
        json!({ "text": text, "from": from, "type": form.get("type"), "parts": count }),
    );
    let messages: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({
                "to": to,
                "message-id": id,
                "status": "0",
                "remaining-balance": "10.00000000",
                "message-price": "0.03330000",
                "network": "12345",
                "client-ref": client_ref,
            })
        })
        .collect();
    if let (Some("1"), Some(callback)) = (
        form.get("status-report-req").map(String::as_str),
        field("callback"),
    ) {
        let receipt = [
            ("msisdn", to.as_str()),
            ("to", from.as_str()),
            ("network-code", "23410"),
            ("messageId", ids[0].as_str()),
            ("price", "0.03330000"),
            ("status", "delivered"),
            ("err-code", "0"),
            ("api-key", key.as_str()),
            ("client-ref", client_ref.as_deref().unwrap_or_default()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        tokio::spawn(report_delivery(
            callback.clone(),
            receipt,
            state.settings.signature_secret.clone(),
        ));
    }
    let body = json!({ "message-count": count.to_string(), "messages": messages });
    (StatusCode::OK, Json(body)).into_response()
}

/// How long after accepting a message the fake reports it delivered.
const DELIVERY_DELAY: std::time::Duration = std::time::Duration::from_millis(200);

/// Posts a signed delivery receipt to `url` after a short delay. A refused one is logged.
async fn report_delivery(url: String, mut params: Vec<(String, String)>, secret: String) {
    tokio::time::sleep(DELIVERY_DELAY).await;
    let now = jiff::Timestamp::now();
    params.push(("scts".into(), now.strftime("%y%m%d%H%M").to_string()));
    params.push((
        "message-timestamp".into(),
        now.strftime("%Y-%m-%d %H:%M:%S").to_string(),
    ));
    params.push(("timestamp".into(), now.as_second().to_string()));
    params.push(("nonce".into(), uuid::Uuid::new_v4().to_string()));
    let sig = vonage_signature(&secret, &params);
    params.push(("sig".into(), sig));
    let request = reqwest::Client::new().post(&url).form(&params);
    crate::rest::post_webhook(request, &url, "delivery receipt").await;
}

/// `sig` as Vonage computes it with "SHA-256 HMAC" chosen: see the module documentation.
pub fn vonage_signature(secret: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut signed = String::new();
    for (name, value) in sorted {
        signed.push('&');
        signed.push_str(name);
        signed.push('=');
        signed.extend(
            value
                .chars()
                .map(|c| if c == '&' || c == '=' { '_' } else { c }),
        );
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, signed.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

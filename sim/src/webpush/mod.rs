//! Fake web push service (RFC 8030) that checks VAPID (RFC 8292) and decrypts every message
//! (RFC 8291), so a message it accepts was provably encrypted and signed right.
//!
//! Routes, besides the `/_sim/` control API:
//!
//! - `POST /_sim/webpush/subscriptions`: mints a subscription, as a browser would; the optional
//!   JSON body `{"application_server_key": "<base64url>"}` binds it to one VAPID key (a push
//!   with another `k` answers 403). Answers 201 `{id, endpoint, p256dh, auth}`; the simulator
//!   keeps the private key.
//! - `POST /push/{id}`: the push endpoint. Checks, in order: the subscription exists (404);
//!   it is not listed in the fault settings' `invalid_tokens`, by endpoint or id (410); then
//!   latency and fault rules for the endpoint (status with `Retry-After`, dropped connection,
//!   slow answer); `TTL` is a non-negative integer, `Content-Encoding` is `aes128gcm`,
//!   `Urgency` and `Topic` are valid (400); `Authorization: vapid t=…, k=…` carries an ES256 JWT
//!   that `k` verifies, with `aud` = this server's origin, `exp` in the future and at most
//!   24 h away, and a `mailto:`/`https:` `sub` (401); `k` matches the subscription's key when
//!   bound (403); the body is at most 4096 bytes (413) and decrypts (400). An accepted message
//!   answers 201 with `Location` and the applied `TTL`, and is recorded in the ledger with the
//!   `delivery_id` of its JSON payload and the endpoint as recipient.
//!
//! Errors use the autopush shape `{"code","errno","error","message"}`. The decryption here is
//! written apart from the dispatcher's encryption on purpose: a bug shared by both would
//! otherwise go unnoticed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

use self::checks::{decrypt, verify_vapid};
use crate::control::{self, Control};
use crate::fault_acting::act_out;
use crate::tls::{self, ConnectionKill, SimError, SimServer, Transport};
use crate::{Faults, Ledger};

/// Largest push body the simulator accepts, the RFC 8030 minimum every service must take.
pub const MAX_BODY_BYTES: usize = 4096;
/// Most subscriptions one simulator keeps.
const MAX_SUBSCRIPTIONS: usize = 100_000;
/// Longest a VAPID token may still be valid (RFC 8292 §2), plus clock leeway.
const MAX_TOKEN_LIFETIME_S: u64 = 24 * 3600 + 60;

/// A subscription as a browser would hand it to the application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimSubscription {
    /// Subscription id, the last path segment of the endpoint.
    pub id: String,
    /// Push endpoint URL.
    pub endpoint: String,
    /// User agent public key, base64url of the uncompressed point.
    pub p256dh: String,
    /// Auth secret, base64url of 16 bytes.
    pub auth: String,
}

/// Body of `POST /_sim/webpush/subscriptions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeRequest {
    #[serde(default)]
    application_server_key: Option<String>,
}

struct Keys {
    secret: SecretKey,
    auth: [u8; 16],
    application_server_key: Option<Vec<u8>>,
}

struct SimState {
    base_url: String,
    control: Control,
    subscriptions: Mutex<HashMap<String, Keys>>,
    /// VAPID headers already verified, as push services keep them: a sender reuses one token
    /// for hours, and checking its ES256 signature on every message was most of the
    /// simulator's CPU under load.
    verified: checks::VerifiedTokens,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A running fake push service. Dropping it stops the server.
#[derive(Debug)]
pub struct WebPushSim {
    server: SimServer,
    state: Arc<SimState>,
}

/// Starts a fake push service (plain HTTP) on `listener`, with `/_sim/` control routes. Must
/// be called inside a Tokio runtime. Its endpoints are `http://<listener address>/push/<id>`,
/// so a client needs its test-only switch for loopback HTTP endpoints.
pub fn serve(listener: TcpListener) -> Result<WebPushSim, SimError> {
    let addr = listener.local_addr()?;
    let control = Control::default();
    let state = Arc::new(SimState {
        base_url: format!("http://{addr}"),
        control: control.clone(),
        subscriptions: Mutex::new(HashMap::new()),
        verified: checks::VerifiedTokens::default(),
    });
    let router = Router::new()
        .route("/_sim/webpush/subscriptions", post(subscribe_route))
        .route("/push/{id}", post(push))
        .with_state(state.clone())
        .merge(control::routes(control));
    let server = tls::serve(listener, router, Transport::Plain, false)?;
    Ok(WebPushSim { server, state })
}

impl WebPushSim {
    /// `http://127.0.0.1:<port>`, the origin VAPID tokens must name.
    pub fn base_url(&self) -> &str {
        &self.state.base_url
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// What it accepted.
    pub fn ledger(&self) -> &Ledger {
        &self.state.control.ledger
    }

    /// Its fault settings.
    pub fn faults(&self) -> &Faults {
        &self.state.control.faults
    }

    /// Mints a subscription in-process, like `POST /_sim/webpush/subscriptions`.
    /// `application_server_key` (base64url) binds it to one VAPID key.
    pub fn subscribe(
        &self,
        application_server_key: Option<&str>,
    ) -> Result<SimSubscription, String> {
        subscribe(&self.state, application_server_key)
    }
}

fn subscribe(
    state: &SimState,
    application_server_key: Option<&str>,
) -> Result<SimSubscription, String> {
    let application_server_key = match application_server_key {
        Some(key) => {
            let bytes = URL_SAFE_NO_PAD
                .decode(key.trim_end_matches('='))
                .map_err(|_| "application_server_key is not base64url".to_owned())?;
            PublicKey::from_sec1_bytes(&bytes)
                .map_err(|_| "application_server_key is not a p-256 public key".to_owned())?;
            Some(bytes)
        }
        None => None,
    };
    let mut rng = rand::rng();
    let secret = loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        if let Ok(secret) = SecretKey::from_slice(&bytes) {
            break secret;
        }
    };
    let mut auth = [0u8; 16];
    rng.fill_bytes(&mut auth);
    let mut id_bytes = [0u8; 24];
    rng.fill_bytes(&mut id_bytes);
    let id = URL_SAFE_NO_PAD.encode(id_bytes);
    let subscription = SimSubscription {
        endpoint: format!("{}/push/{id}", state.base_url),
        p256dh: URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes()),
        auth: URL_SAFE_NO_PAD.encode(auth),
        id: id.clone(),
    };
    let mut subscriptions = state
        .subscriptions
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if subscriptions.len() >= MAX_SUBSCRIPTIONS {
        return Err("too many subscriptions".to_owned());
    }
    subscriptions.insert(
        id,
        Keys {
            secret,
            auth,
            application_server_key,
        },
    );
    Ok(subscription)
}

async fn subscribe_route(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        SubscribeRequest::default()
    } else {
        match serde_json::from_slice::<SubscribeRequest>(&body) {
            Ok(request) => request,
            Err(err) => return error(400, 0, &format!("invalid subscription request: {err}")),
        }
    };
    match subscribe(&state, request.application_server_key.as_deref()) {
        Ok(subscription) => (StatusCode::CREATED, Json(subscription)).into_response(),
        Err(message) => error(400, 0, &message),
    }
}

/// An autopush-style error answer.
fn error(code: u16, errno: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "code": code,
        "errno": errno,
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    });
    (status, Json(body)).into_response()
}

async fn push(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    kill: Option<Extension<ConnectionKill>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = format!("{}/push/{id}", state.base_url);
    let keys = {
        let subscriptions = state
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subscriptions
            .get(&id)
            .map(|k| (k.secret.clone(), k.auth, k.application_server_key.clone()))
    };
    let Some((secret, auth, bound_key)) = keys else {
        return error(404, 102, "subscription not found");
    };
    let faults = &state.control.faults;
    if faults.invalid_since(&endpoint).is_some() || faults.invalid_since(&id).is_some() {
        return error(410, 106, "subscription has expired or been unsubscribed");
    }
    if let Some(fault) = act_out(faults, &endpoint, kill).await {
        let response = match fault.code {
            429 => error(429, 201, "too many requests"),
            code => error(code, 999, "simulated failure"),
        };
        return fault.with_retry_after(response);
    }

    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let Some(ttl) = header("ttl").and_then(|v| v.parse::<u64>().ok()) else {
        return error(
            400,
            112,
            "ttl header is missing or not a non-negative integer",
        );
    };
    if header("content-encoding") != Some("aes128gcm") {
        return error(400, 110, "content-encoding must be aes128gcm");
    }
    let urgency = header("urgency").unwrap_or("normal").to_owned();
    if !["very-low", "low", "normal", "high"].contains(&urgency.as_str()) {
        return error(400, 110, "urgency is not very-low, low, normal or high");
    }
    let topic = header("topic").map(str::to_owned);
    if let Some(topic) = &topic {
        let valid = !topic.is_empty()
            && topic.len() <= 32
            && topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return error(400, 110, "topic must be at most 32 base64url characters");
        }
    }
    let authorization = header("authorization");
    let verified = || verify_vapid(authorization, &state.base_url);
    let vapid_key = match state.verified.get_or_verify(authorization, verified) {
        Ok(key) => key,
        Err(message) => return error(401, 109, &message),
    };
    if bound_key.is_some_and(|bound| bound != vapid_key) {
        return error(403, 109, "vapid key does not match the subscription");
    }
    if body.len() > MAX_BODY_BYTES {
        return error(413, 104, "payload too large");
    }
    let plaintext = match decrypt(&body, &secret, &auth) {
        Ok(plaintext) => plaintext,
        Err(message) => return error(400, 110, &message),
    };

    let payload: serde_json::Value = serde_json::from_slice(&plaintext)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&plaintext).into()));
    let delivery_id = payload
        .get("delivery_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let message_id = uuid::Uuid::new_v4().simple().to_string();
    state.control.ledger.record(
        "webpush",
        delivery_id,
        &endpoint,
        &message_id,
        json!({ "payload": payload, "ttl": ttl, "urgency": urgency, "topic": topic }),
    );
    let mut response = StatusCode::CREATED.into_response();
    let location = format!("{}/m/{message_id}", state.base_url);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert("location", location);
    }
    response.headers_mut().insert("ttl", HeaderValue::from(ttl));
    response
}

mod checks;
#[cfg(test)]
mod tests;

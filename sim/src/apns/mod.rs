//! A fake APNs: the HTTP/2 provider API over TLS, `POST /3/device/<token>`.
//!
//! What it checks, like APNs does: the ES256 provider token (`kid` and `iss` must match the
//! configured key and team, the signature must verify, and an `iat` older than
//! [`ApnsSimSettings::max_token_age_s`] is `403 ExpiredProviderToken`), the `apns-*` headers
//! (topic, push type, priority, expiration, collapse id ≤ 64 bytes, apns-id a UUID), the device
//! token (hex) and the payload (JSON with an `aps` dictionary, at most 4096 bytes, else `413
//! PayloadTooLarge`). Errors carry the APNs body `{"reason": ...}`; tokens listed in the
//! faults' `invalid_tokens` get `410 {"reason":"Unregistered","timestamp":ms}`.
//!
//! Faults apply after authentication and header checks: latency, a status with the APNs reason
//! for that status and `Retry-After`, a dropped connection, a slow answer. Accepted pushes go to
//! the [`Ledger`] with the `apns-id` header as delivery id. It speaks HTTP/2 only, over TLS with
//! a certificate from a [`TestCa`] generated at start-up; `/_sim/` serves the control API.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use notify_sim::apns::{serve, ApnsSimSettings};
//! use notify_sim::keys::KeyPair;
//!
//! let key = KeyPair::generate_p256()?; // or KeyPair::from_private_pem(<the .p8 file>)
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let sim = serve(listener, ApnsSimSettings::new("KEYID12345", "TEAMID1234", key.public_pem()))?;
//! // The client: base_url = sim.base_url(), ca_file = a file with sim.ca_pem(),
//! // key_file = a file with key.private_pem(), key_id and team_id as above.
//! std::fs::write("apns-sim-ca.pem", sim.ca_pem())?;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::control::{self, Control};
use crate::faults::Fault;
use crate::ledger::now_ms;
use crate::tls::{self, ConnectionKill, SimError, SimServer, TestCa, Transport};
use crate::{Faults, Ledger};

/// Largest payload APNs takes for a regular (non-VoIP) notification.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// Longest `apns-collapse-id` in bytes.
pub const MAX_COLLAPSE_ID_BYTES: usize = 64;

/// Push types APNs knows.
const PUSH_TYPES: &[&str] = &[
    "alert",
    "background",
    "location",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "liveactivity",
    "pushtotalk",
];

/// What the fake APNs accepts.
#[derive(Debug, Clone)]
pub struct ApnsSimSettings {
    /// Key ID the provider token's `kid` must name.
    pub key_id: String,
    /// Team ID the provider token's `iss` must name.
    pub team_id: String,
    /// The P-256 public key (SPKI PEM) provider tokens must verify against.
    pub public_key_pem: String,
    /// When set, `apns-topic` must be this bundle id.
    pub topic: Option<String>,
    /// Oldest provider token accepted, in seconds since its `iat` (APNs: one hour).
    pub max_token_age_s: u64,
    /// The test CA to serve with; a new one is generated when `None`. Passing one lets a
    /// long-running simulator keep the CA its clients already trust.
    pub ca: Option<TestCa>,
}

impl ApnsSimSettings {
    /// Settings for one key and team, any topic, one-hour tokens.
    pub fn new(
        key_id: impl Into<String>,
        team_id: impl Into<String>,
        public_key_pem: impl Into<String>,
    ) -> Self {
        Self {
            key_id: key_id.into(),
            team_id: team_id.into(),
            public_key_pem: public_key_pem.into(),
            topic: None,
            max_token_age_s: 3600,
            ca: None,
        }
    }
}

struct Signer {
    key_id: String,
    key: DecodingKey,
}

struct SimState {
    control: Control,
    signer: RwLock<Signer>,
    team_id: String,
    topic: Option<String>,
    max_token_age_s: u64,
    requests: AtomicU64,
    last_token: Mutex<Option<String>>,
}

/// A running fake APNs. Dropping it stops the server.
#[derive(Debug)]
pub struct ApnsSim {
    server: SimServer,
    ca: TestCa,
    state: Arc<SimState>,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("team_id", &self.team_id)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// Starts a fake APNs on `listener` (HTTP/2 over TLS with a freshly generated test CA). Must be
/// called inside a Tokio runtime.
pub fn serve(listener: TcpListener, settings: ApnsSimSettings) -> Result<ApnsSim, SimError> {
    let ca = match settings.ca.clone() {
        Some(ca) => ca,
        None => TestCa::generate()?,
    };
    let config = ca.server_config(&[b"h2"])?;
    let state = state(settings)?;
    let server = tls::serve(
        listener,
        router(state.clone()),
        Transport::Tls(config),
        true,
    )?;
    Ok(ApnsSim { server, ca, state })
}

impl ApnsSim {
    /// `https://127.0.0.1:<port>`: the `base_url` for a client.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.local_addr())
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The test CA's certificate (PEM) a client must trust.
    pub fn ca_pem(&self) -> &str {
        self.ca.ca_pem()
    }

    /// What it accepted.
    pub fn ledger(&self) -> &Ledger {
        &self.state.control.ledger
    }

    /// Its fault settings.
    pub fn faults(&self) -> &Faults {
        &self.state.control.faults
    }

    /// Number of push requests it received, accepted or not.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// The provider token (JWT) of the last push request, verified or not: for checking a
    /// client's tokens with an independent JWT library.
    pub fn last_provider_token(&self) -> Option<String> {
        self.state
            .last_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the key provider tokens must be signed with (a key rotation at Apple).
    pub fn set_key(&self, key_id: impl Into<String>, public_key_pem: &str) -> Result<(), SimError> {
        let key = decoding_key(public_key_pem)?;
        let mut signer = self.state.signer.write().unwrap_or_else(|e| e.into_inner());
        *signer = Signer {
            key_id: key_id.into(),
            key,
        };
        Ok(())
    }

    /// Stops the server.
    pub fn shutdown(&self) {
        self.server.shutdown();
    }
}

fn state(settings: ApnsSimSettings) -> Result<Arc<SimState>, SimError> {
    Ok(Arc::new(SimState {
        control: Control::default(),
        signer: RwLock::new(Signer {
            key_id: settings.key_id,
            key: decoding_key(&settings.public_key_pem)?,
        }),
        team_id: settings.team_id,
        topic: settings.topic,
        max_token_age_s: settings.max_token_age_s,
        requests: AtomicU64::new(0),
        last_token: Mutex::new(None),
    }))
}

fn decoding_key(pem: &str) -> Result<DecodingKey, SimError> {
    DecodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| SimError::Key(e.to_string()))
}

fn router(state: Arc<SimState>) -> Router {
    let control = control::routes(state.control.clone());
    Router::new()
        .route("/3/device/{token}", post(push).fallback(method_not_allowed))
        // Room above the APNs limit, so oversized payloads get APNs' own 413 answer.
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
        .merge(control)
        .fallback(bad_path)
}

async fn bad_path() -> Response {
    error(StatusCode::NOT_FOUND, "BadPath", None)
}

async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", None)
}

fn error(status: StatusCode, reason: &str, apns_id: Option<&HeaderValue>) -> Response {
    let mut response = (status, Json(json!({ "reason": reason }))).into_response();
    if let Some(id) = apns_id {
        response.headers_mut().insert("apns-id", id.clone());
    }
    response
}

#[derive(Deserialize)]
struct ProviderClaims {
    iss: String,
    iat: i64,
}

impl SimState {
    /// Checks the provider token; the error is the APNs 403 reason.
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or("MissingProviderToken")?
            .to_str()
            .map_err(|_| "InvalidProviderToken")?;
        let jwt = value
            .strip_prefix("bearer ")
            .or_else(|| value.strip_prefix("Bearer "))
            .ok_or("InvalidProviderToken")?;
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| "InvalidProviderToken")?;
        if header.alg != Algorithm::ES256 {
            return Err("InvalidProviderToken");
        }
        let signer = self.signer.read().unwrap_or_else(|e| e.into_inner());
        if header.kid.as_deref() != Some(signer.key_id.as_str()) {
            return Err("InvalidProviderToken");
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<ProviderClaims>(jwt, &signer.key, &validation)
            .map_err(|_| "InvalidProviderToken")?
            .claims;
        if claims.iss != self.team_id {
            return Err("InvalidProviderToken");
        }
        let now = now_ms() / 1000;
        if claims.iat > now + 60 {
            return Err("InvalidProviderToken");
        }
        if now - claims.iat > self.max_token_age_s as i64 {
            return Err("ExpiredProviderToken");
        }
        Ok(())
    }

    /// Checks the `apns-*` headers and the token; the error is the APNs 400 reason.
    fn check_request(&self, token: &str, headers: &HeaderMap) -> Result<(), &'static str> {
        for name in [
            "apns-topic",
            "apns-push-type",
            "apns-priority",
            "apns-expiration",
            "apns-collapse-id",
            "apns-id",
        ] {
            if headers.get_all(name).iter().count() > 1 {
                return Err("DuplicateHeaders");
            }
        }
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if token.is_empty() {
            return Err("MissingDeviceToken");
        }
        if !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("BadDeviceToken");
        }
        let topic = text("apns-topic").ok_or("MissingTopic")?;
        if self.topic.as_deref().is_some_and(|want| want != topic) {
            return Err("TopicDisallowed");
        }
        if let Some(push_type) = headers.get("apns-push-type") {
            let push_type = push_type.to_str().map_err(|_| "InvalidPushType")?;
            if !PUSH_TYPES.contains(&push_type) {
                return Err("InvalidPushType");
            }
        }
        if let Some(priority) = headers.get("apns-priority") {
            match priority.to_str() {
                Ok("10") if text("apns-push-type") == Some("background") => {
                    return Err("BadPriority")
                }
                Ok("1" | "5" | "10") => {}
                _ => return Err("BadPriority"),
            }
        }
        if let Some(expiration) = headers.get("apns-expiration") {
            let ok = expiration
                .to_str()
                .ok()
                .is_some_and(|v| v.parse::<u64>().is_ok());
            if !ok {
                return Err("BadExpirationDate");
            }
        }
        if let Some(collapse) = headers.get("apns-collapse-id") {
            if collapse.len() > MAX_COLLAPSE_ID_BYTES {
                return Err("BadCollapseId");
            }
        }
        if let Some(id) = headers.get("apns-id") {
            let ok = id.to_str().ok().is_some_and(|v| {
                v.len() == 36
                    && uuid::Uuid::parse_str(v).is_ok()
                    && !v.bytes().any(|b| b.is_ascii_uppercase())
            });
            if !ok {
                return Err("BadMessageId");
            }
        }
        Ok(())
    }
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

async fn push(
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

    match faults.next(&token) {
        Some(Fault::Status {
            code,
            retry_after_s,
        }) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = if code == 410 {
                let body = json!({ "reason": "Unregistered", "timestamp": now_ms() });
                (status, Json(body)).into_response()
            } else {
                error(status, fault_reason(code), apns_id)
            };
            if let Some(seconds) = retry_after_s {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(seconds));
            }
            return response;
        }
        Some(Fault::Drop) => {
            if let Some(Extension(kill)) = kill {
                kill.kill();
                std::future::pending::<()>().await;
            }
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                None,
            );
        }
        Some(Fault::Slow { ms }) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        None => {}
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
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use jsonwebtoken::{EncodingKey, Header};
    use tower::ServiceExt;

    use super::*;
    use crate::faults::FaultSettings;
    use crate::keys::KeyPair;

    const TOKEN: &str = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad";
    const ID: &str = "3c2b3f0e-6a55-4a8e-9d0c-2f1b7f0d9a11";

    struct Fixture {
        key: KeyPair,
        state: Arc<SimState>,
    }

    fn fixture() -> Fixture {
        let key = KeyPair::generate_p256().unwrap();
        let mut settings = ApnsSimSettings::new("KID", "TEAM", key.public_pem());
        settings.topic = Some("com.example.app".into());
        let state = state(settings).unwrap();
        Fixture { key, state }
    }

    fn jwt(key: &KeyPair, kid: &str, iss: &str, iat: i64) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        let key = EncodingKey::from_ec_pem(key.private_pem().as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &json!({ "iss": iss, "iat": iat }), &key).unwrap()
    }

    fn request(auth: Option<String>, headers: &[(&str, &str)], body: String) -> Request<Body> {
        let mut builder = Request::post(format!("/3/device/{TOKEN}"))
            .header("apns-topic", "com.example.app")
            .header("apns-push-type", "alert")
            .header("apns-id", ID);
        if let Some(auth) = auth {
            builder = builder.header("authorization", format!("bearer {auth}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::from(body)).unwrap()
    }

    fn payload() -> String {
        json!({ "aps": { "alert": { "title": "t", "body": "b" } } }).to_string()
    }

    async fn answer(state: &Arc<SimState>, request: Request<Body>) -> (StatusCode, Value) {
        let response = router(state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    fn now() -> i64 {
        now_ms() / 1000
    }

    #[tokio::test]
    async fn a_valid_push_is_accepted_and_recorded() {
        let f = fixture();
        let token = jwt(&f.key, "KID", "TEAM", now());
        let (status, _) = answer(&f.state, request(Some(token), &[], payload())).await;
        assert_eq!(status, StatusCode::OK);
        let entries = f.state.control.ledger.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].delivery_id.as_deref(), Some(ID));
        assert_eq!(entries[0].recipient, TOKEN);
        assert_eq!(entries[0].summary["title"], "t");
    }

    #[tokio::test]
    async fn provider_tokens_are_checked() {
        let f = fixture();
        let cases = [
            (None, "MissingProviderToken"),
            (
                Some(jwt(&f.key, "KID", "TEAM", now() - 3_601)),
                "ExpiredProviderToken",
            ),
            (
                Some(jwt(&f.key, "OTHER", "TEAM", now())),
                "InvalidProviderToken",
            ),
            (
                Some(jwt(&f.key, "KID", "OTHER", now())),
                "InvalidProviderToken",
            ),
            (
                Some(jwt(&f.key, "KID", "TEAM", now() + 3_600)),
                "InvalidProviderToken",
            ),
            (
                Some(jwt(
                    &KeyPair::generate_p256().unwrap(),
                    "KID",
                    "TEAM",
                    now(),
                )),
                "InvalidProviderToken",
            ),
        ];
        for (token, reason) in cases {
            let (status, body) = answer(&f.state, request(token, &[], payload())).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{reason}");
            assert_eq!(body["reason"], reason);
        }
        assert!(f.state.control.ledger.is_empty());
    }

    #[tokio::test]
    async fn headers_and_payloads_are_checked() {
        let f = fixture();
        let long_collapse = "c".repeat(65);
        type Case<'a> = (Vec<(&'a str, &'a str)>, String, StatusCode, &'a str);
        let cases: Vec<Case> = vec![
            (
                vec![("apns-collapse-id", &long_collapse)],
                payload(),
                StatusCode::BAD_REQUEST,
                "BadCollapseId",
            ),
            (
                vec![("apns-priority", "7")],
                payload(),
                StatusCode::BAD_REQUEST,
                "BadPriority",
            ),
            (
                vec![("apns-expiration", "soon")],
                payload(),
                StatusCode::BAD_REQUEST,
                "BadExpirationDate",
            ),
            (
                vec![("apns-topic", "com.other.app")],
                payload(),
                StatusCode::BAD_REQUEST,
                "DuplicateHeaders",
            ),
            (
                vec![],
                String::new(),
                StatusCode::BAD_REQUEST,
                "PayloadEmpty",
            ),
            (
                vec![],
                "x".repeat(MAX_PAYLOAD_BYTES + 1),
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge",
            ),
        ];
        for (headers, body, want_status, want_reason) in cases {
            let token = jwt(&f.key, "KID", "TEAM", now());
            let (status, answer) = answer(&f.state, request(Some(token), &headers, body)).await;
            assert_eq!(status, want_status, "{want_reason}");
            assert_eq!(answer["reason"], want_reason);
        }
        assert!(f.state.control.ledger.is_empty());
    }

    #[tokio::test]
    async fn invalid_tokens_answer_410_with_their_timestamp() {
        let f = fixture();
        f.state.control.faults.set(FaultSettings {
            invalid_tokens: [(TOKEN.to_owned(), 1_234)].into(),
            ..FaultSettings::default()
        });
        let token = jwt(&f.key, "KID", "TEAM", now());
        let (status, body) = answer(&f.state, request(Some(token), &[], payload())).await;
        assert_eq!(status, StatusCode::GONE);
        assert_eq!(
            body,
            json!({ "reason": "Unregistered", "timestamp": 1_234 })
        );
    }

    #[tokio::test]
    async fn unknown_paths_are_bad_paths_and_the_control_api_is_merged() {
        let f = fixture();
        let (status, body) = answer(
            &f.state,
            Request::get("/3/nothing").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["reason"], "BadPath");
        let (status, body) = answer(
            &f.state,
            Request::get("/_sim/ledger").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!([]));
    }
}

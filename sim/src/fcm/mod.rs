//! A fake FCM: the OAuth2 token endpoint of a Google service account and the FCM HTTP v1 send
//! API.
//!
//! - `POST /token` takes `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>`
//!   and verifies the RS256 assertion against the configured public key: `iss` must be the
//!   service account's email, `aud` this endpoint's URL (or Google's), `scope` must include
//!   `firebase.messaging` (or `cloud-platform`), `exp` must be in the future and at most an hour
//!   after `iat`. It answers `{"access_token","expires_in","token_type":"Bearer"}` with a random
//!   token, or `400 {"error":"invalid_grant",...}`. Faults do not apply to it.
//! - `POST /v1/projects/{project}/messages:send` needs a live bearer token from that endpoint
//!   (else `401 UNAUTHENTICATED` without an FCM error code), checks the message (exactly one
//!   target, string-valued data without reserved keys, data at most 4096 bytes, android
//!   priority and ttl), applies [`Faults`] and `invalid_tokens` (`404 UNREGISTERED`), answers
//!   errors as a google.rpc Status with a `google.firebase.fcm.v1.FcmError` detail, and records
//!   accepted messages in the [`Ledger`] with `data.notify_delivery_id` as delivery id.
//!
//! Plain HTTP by default (tests), TLS when asked; `/_sim/` serves the control API.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use notify_sim::fcm::{serve, FcmSimSettings};
//! use notify_sim::keys::KeyPair;
//!
//! let key = KeyPair::generate_rsa()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let settings = FcmSimSettings::new("sender@demo.iam.gserviceaccount.com", key.public_pem(), "demo");
//! let sim = serve(listener, settings)?;
//! // The client: base_url = sim.base_url(), service_account_file = a file with this content.
//! std::fs::write("fcm-sim-account.json", sim.service_account_json(key.private_pem()))?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Form, Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::control::{self, Control};
use crate::faults::Fault;
use crate::tls::{self, ConnectionKill, SimError, SimServer, TestCa, Transport};
use crate::{Faults, Ledger};

/// Google's token endpoint: also accepted as the assertion's audience.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Most bytes of `data` (keys and values) one message may carry.
pub const MAX_DATA_BYTES: usize = 4096;

/// Most live access tokens kept; older ones are forgotten first.
const MAX_LIVE_TOKENS: usize = 10_000;

const FCM_ERROR_TYPE: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";

/// What the fake FCM accepts.
#[derive(Debug, Clone)]
pub struct FcmSimSettings {
    /// The service account's `client_email`: the assertion's `iss`.
    pub client_email: String,
    /// The service account key's public half (SPKI PEM) assertions must verify against.
    pub public_key_pem: String,
    /// The only project messages may be sent to.
    pub project_id: String,
    /// Lifetime of issued access tokens (`expires_in`), seconds.
    pub token_lifetime_s: u64,
    /// Serve over TLS instead of plain HTTP.
    pub tls: bool,
    /// With `tls`, the test CA to serve with; a new one is generated when `None`.
    pub ca: Option<TestCa>,
}

impl FcmSimSettings {
    /// Settings for one service account and project, one-hour tokens, plain HTTP.
    pub fn new(
        client_email: impl Into<String>,
        public_key_pem: impl Into<String>,
        project_id: impl Into<String>,
    ) -> Self {
        Self {
            client_email: client_email.into(),
            public_key_pem: public_key_pem.into(),
            project_id: project_id.into(),
            token_lifetime_s: 3600,
            tls: false,
            ca: None,
        }
    }
}

struct SimState {
    control: Control,
    key: RwLock<DecodingKey>,
    client_email: String,
    project_id: String,
    token_uri: String,
    token_lifetime: Duration,
    live_tokens: Mutex<HashMap<String, Instant>>,
    tokens_issued: AtomicU64,
    sends: AtomicU64,
    last_assertion: Mutex<Option<String>>,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("project_id", &self.project_id)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// A running fake FCM. Dropping it stops the server.
#[derive(Debug)]
pub struct FcmSim {
    server: SimServer,
    ca: Option<TestCa>,
    base_url: String,
    state: Arc<SimState>,
}

/// Starts a fake FCM on `listener`. Must be called inside a Tokio runtime.
pub fn serve(listener: TcpListener, settings: FcmSimSettings) -> Result<FcmSim, SimError> {
    let addr = listener.local_addr()?;
    let (transport, ca, scheme) = if settings.tls {
        let ca = match settings.ca.clone() {
            Some(ca) => ca,
            None => TestCa::generate()?,
        };
        let config = ca.server_config(&[b"h2", b"http/1.1"])?;
        (Transport::Tls(config), Some(ca), "https")
    } else {
        (Transport::Plain, None, "http")
    };
    let base_url = format!("{scheme}://{addr}");
    let state = state(settings, format!("{base_url}/token"))?;
    let server = tls::serve(listener, router(state.clone()), transport, false)?;
    Ok(FcmSim {
        server,
        ca,
        base_url,
        state,
    })
}

impl FcmSim {
    /// `http://127.0.0.1:<port>` (or `https://` with TLS): the client's `base_url`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The token endpoint, `<base_url>/token`: the service account's `token_uri`.
    pub fn token_uri(&self) -> &str {
        &self.state.token_uri
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The test CA's certificate (PEM) when serving TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(TestCa::ca_pem)
    }

    /// What it accepted.
    pub fn ledger(&self) -> &Ledger {
        &self.state.control.ledger
    }

    /// Its fault settings.
    pub fn faults(&self) -> &Faults {
        &self.state.control.faults
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.state.tokens_issued.load(Ordering::Relaxed)
    }

    /// Send requests received, accepted or not.
    pub fn sends(&self) -> u64 {
        self.state.sends.load(Ordering::Relaxed)
    }

    /// The JWT assertion of the last token request, verified or not: for checking a client's
    /// assertions with an independent JWT library.
    pub fn last_assertion(&self) -> Option<String> {
        self.state
            .last_assertion
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets every issued access token, so the next send with one answers 401.
    pub fn revoke_access_tokens(&self) {
        self.state.tokens().clear();
    }

    /// Replaces the public key assertions must verify against (a rotated service account key).
    pub fn set_key(&self, public_key_pem: &str) -> Result<(), SimError> {
        let key = decoding_key(public_key_pem)?;
        *self.state.key.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(())
    }

    /// A service account JSON file's content for `private_key_pem`, pointing at this simulator.
    pub fn service_account_json(&self, private_key_pem: &str) -> String {
        json!({
            "type": "service_account",
            "project_id": self.state.project_id,
            "private_key_id": "sim-key",
            "private_key": private_key_pem,
            "client_email": self.state.client_email,
            "token_uri": self.state.token_uri,
        })
        .to_string()
    }

    /// Stops the server.
    pub fn shutdown(&self) {
        self.server.shutdown();
    }
}

fn state(settings: FcmSimSettings, token_uri: String) -> Result<Arc<SimState>, SimError> {
    Ok(Arc::new(SimState {
        control: Control::default(),
        key: RwLock::new(decoding_key(&settings.public_key_pem)?),
        client_email: settings.client_email,
        project_id: settings.project_id,
        token_uri,
        token_lifetime: Duration::from_secs(settings.token_lifetime_s),
        live_tokens: Mutex::new(HashMap::new()),
        tokens_issued: AtomicU64::new(0),
        sends: AtomicU64::new(0),
        last_assertion: Mutex::new(None),
    }))
}

fn decoding_key(pem: &str) -> Result<DecodingKey, SimError> {
    DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| SimError::Key(e.to_string()))
}

fn router(state: Arc<SimState>) -> Router {
    let control = control::routes(state.control.clone());
    Router::new()
        .route("/token", post(token))
        .route("/v1/projects/{project}/messages:send", post(send))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
        .merge(control)
}

impl SimState {
    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.live_tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn verify_assertion(&self, assertion: &str) -> Result<(), &'static str> {
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| "malformed assertion")?;
        if header.alg != Algorithm::RS256 {
            return Err("assertion must be signed with rs256");
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        validation.set_issuer(&[self.client_email.as_str()]);
        validation.set_audience(&[self.token_uri.as_str(), GOOGLE_TOKEN_URI]);
        validation.leeway = 60;
        let key = self.key.read().unwrap_or_else(|e| e.into_inner());
        let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
            .map_err(|_| "invalid jwt signature or claims")?
            .claims;
        if claims.exp - claims.iat > 3600 || claims.exp <= claims.iat {
            return Err("invalid jwt: exp must be within an hour after iat");
        }
        let scopes: Vec<&str> = claims.scope.split(' ').collect();
        let allowed = [
            "https://www.googleapis.com/auth/firebase.messaging",
            "https://www.googleapis.com/auth/cloud-platform",
        ];
        if !scopes.iter().any(|s| allowed.contains(s)) {
            return Err("invalid scope");
        }
        Ok(())
    }

    fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        self.tokens()
            .get(token)
            .is_some_and(|expires| *expires > Instant::now())
    }
}

#[derive(Deserialize)]
struct AssertionClaims {
    iat: i64,
    exp: i64,
    scope: String,
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: String,
    assertion: Option<String>,
}

async fn token(State(state): State<Arc<SimState>>, Form(request): Form<TokenRequest>) -> Response {
    if request.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        let body =
            json!({ "error": "unsupported_grant_type", "error_description": "Invalid grant_type" });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    *state
        .last_assertion
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = request.assertion.clone();
    let verified = match request.assertion.as_deref() {
        Some(assertion) => state.verify_assertion(assertion),
        None => Err("missing assertion"),
    };
    if let Err(description) = verified {
        let body = json!({ "error": "invalid_grant", "error_description": description });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let access_token = format!("sim-{}", uuid::Uuid::new_v4().simple());
    {
        let now = Instant::now();
        let mut tokens = state.tokens();
        tokens.retain(|_, expires| *expires > now);
        if tokens.len() >= MAX_LIVE_TOKENS {
            tokens.clear();
        }
        tokens.insert(access_token.clone(), now + state.token_lifetime);
    }
    state.tokens_issued.fetch_add(1, Ordering::Relaxed);
    Json(json!({
        "access_token": access_token,
        "expires_in": state.token_lifetime.as_secs(),
        "token_type": "Bearer",
    }))
    .into_response()
}

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
struct SendRequest {
    #[serde(default)]
    validate_only: bool,
    message: Value,
}

async fn send(
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

    match faults.next(&token) {
        Some(Fault::Status {
            code,
            retry_after_s,
        }) => {
            let mut response = fcm_error(code, "simulated failure", Some(fault_error_code(code)));
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
            return fcm_error(500, "Internal error encountered.", Some("INTERNAL"));
        }
        Some(Fault::Slow { ms }) => tokio::time::sleep(Duration::from_millis(ms)).await,
        None => {}
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
    Json(json!({ "name": name })).into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use axum::body::Body;
    use axum::http::Request;
    use jsonwebtoken::{EncodingKey, Header};
    use tower::ServiceExt;

    use super::*;
    use crate::keys::KeyPair;

    const EMAIL: &str = "sender@p.iam.gserviceaccount.com";
    const TOKEN_URI: &str = "http://127.0.0.1:1/token";
    const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

    fn key() -> &'static KeyPair {
        static KEY: OnceLock<KeyPair> = OnceLock::new();
        KEY.get_or_init(|| KeyPair::generate_rsa().unwrap())
    }

    fn fixture() -> Arc<SimState> {
        state(
            FcmSimSettings::new(EMAIL, key().public_pem(), "p"),
            TOKEN_URI.into(),
        )
        .unwrap()
    }

    fn assertion(claims: Value) -> String {
        let key = EncodingKey::from_rsa_pem(key().private_pem().as_bytes()).unwrap();
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
    }

    fn claims(now: i64) -> Value {
        json!({ "iss": EMAIL, "aud": TOKEN_URI, "scope": SCOPE, "iat": now, "exp": now + 3600 })
    }

    async fn call(state: &Arc<SimState>, request: Request<Body>) -> (StatusCode, Value) {
        let response = router(state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    fn token_request(assertion: &str) -> Request<Body> {
        let body = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        );
        Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    }

    fn send_request(bearer: &str, message: Value) -> Request<Body> {
        Request::post("/v1/projects/p/messages:send")
            .header("authorization", format!("Bearer {bearer}"))
            .header("content-type", "application/json")
            .body(Body::from(json!({ "message": message }).to_string()))
            .unwrap()
    }

    fn now() -> i64 {
        crate::ledger::now_ms() / 1000
    }

    #[tokio::test]
    async fn assertions_are_verified() {
        let state = fixture();
        let mut wrong_aud = claims(now());
        wrong_aud["aud"] = json!("https://example.com/token");
        let mut wrong_scope = claims(now());
        wrong_scope["scope"] = json!("https://www.googleapis.com/auth/userinfo.email");
        let mut too_long = claims(now());
        too_long["exp"] = json!(now() + 7200);
        let mut wrong_iss = claims(now());
        wrong_iss["iss"] = json!("someone@else");
        let expired = claims(now() - 7200);
        for bad in [wrong_aud, wrong_scope, too_long, wrong_iss, expired] {
            let (status, body) = call(&state, token_request(&assertion(bad.clone()))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(body["error"], "invalid_grant");
        }
        assert_eq!(state.tokens_issued.load(Ordering::Relaxed), 0);
        let (status, body) = call(&state, token_request(&assertion(claims(now())))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
    }

    #[tokio::test]
    async fn sends_need_a_live_token_and_a_valid_message() {
        let state = fixture();
        let message = json!({ "token": "t1", "data": { "notify_delivery_id": "d1" } });
        let (status, body) = call(&state, send_request("made-up", message.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body["error"].get("details").is_none());

        let (_, token) = call(&state, token_request(&assertion(claims(now())))).await;
        let bearer = token["access_token"].as_str().unwrap().to_owned();
        let reserved = json!({ "token": "t1", "data": { "google.x": "1" } });
        let two_targets = json!({ "token": "t1", "topic": "news" });
        let bad_ttl = json!({ "token": "t1", "android": { "ttl": "soon" } });
        for bad in [reserved, two_targets, bad_ttl] {
            let (status, body) = call(&state, send_request(&bearer, bad.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(body["error"]["details"][0]["errorCode"], "INVALID_ARGUMENT");
        }
        let (status, body) = call(&state, send_request(&bearer, message)).await;
        assert_eq!(status, StatusCode::OK);
        let entries = state.control.ledger.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].delivery_id.as_deref(), Some("d1"));
        assert_eq!(entries[0].message_id, body["name"].as_str().unwrap());
    }
}

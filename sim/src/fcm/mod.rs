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

use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::Router;
use jsonwebtoken::DecodingKey;
use serde_json::json;
use tokio::net::TcpListener;

use crate::control::{self, Control};
use crate::tls::{self, SimError, SimServer, TestCa, Transport};
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
        .route("/token", post(oauth::token))
        .route("/v1/projects/{project}/messages:send", post(send::send))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
        .merge(control)
}

mod oauth;
mod send;

#[cfg(test)]
mod tests;

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

use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::Router;
use jsonwebtoken::DecodingKey;
use tokio::net::TcpListener;

use crate::control::{self, Control};
use crate::tls::{self, SimError, SimServer, TestCa, Transport};
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
        .route(
            "/3/device/{token}",
            post(push::push).fallback(push::method_not_allowed),
        )
        // Room above the APNs limit, so oversized payloads get APNs' own 413 answer.
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
        .merge(control)
        .fallback(push::bad_path)
}

mod checks;
mod push;

#[cfg(test)]
mod tests;

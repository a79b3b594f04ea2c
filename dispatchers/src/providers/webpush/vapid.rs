//! VAPID (RFC 8292): the application server identifies itself to push services with an ES256
//! JWT and its public key.
//!
//! Guarantees: a token's `aud` is the origin of the push resource (scheme, host and port, no
//! path), its `exp` is [`TOKEN_LIFETIME`] after it was made (well inside the 24 h RFC 8292
//! allows) and its `sub` is the configured contact. Tokens are cached per origin and per key,
//! and replaced once less than [`RENEW_BEFORE`] of their life remains, so a push service sees
//! one token per origin for hours, not one per message. A replaced key file makes new tokens at
//! once (the cache is keyed by the public key). The private key never appears in `Debug` output,
//! errors or logs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use p256::SecretKey;

use super::crypto::{decode_b64url, encoded_public};

/// How long a token is valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// A cached token is replaced when it has less than this left.
pub const RENEW_BEFORE: Duration = Duration::from_secs(3600);
/// Most origins whose tokens are cached; past this the cache starts over (push services are a
/// handful of origins, so this only bounds memory against odd endpoints).
const MAX_CACHED_ORIGINS: usize = 1024;

/// The application server's VAPID key pair.
#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
    /// base64url of the 65-byte uncompressed public key: the `k=` parameter and the
    /// `applicationServerKey` browsers subscribe with.
    public: String,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl VapidKey {
    /// Parses a key file: PKCS#8 PEM (`BEGIN PRIVATE KEY`), SEC1 PEM (`BEGIN EC PRIVATE KEY`,
    /// what `openssl ecparam -genkey` writes) or the raw 32-byte scalar in base64url (what
    /// `web-push generate-vapid-keys` prints). The error never quotes the file.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "key file is not utf-8".to_owned())?;
        let text = text.trim();
        let secret = if text.contains("-----BEGIN PRIVATE KEY-----") {
            SecretKey::from_pkcs8_pem(text).map_err(|_| "not a p-256 pkcs#8 private key")?
        } else if text.contains("-----BEGIN EC PRIVATE KEY-----") {
            SecretKey::from_sec1_pem(text).map_err(|_| "not a p-256 sec1 private key")?
        } else {
            let raw = decode_b64url(text).ok_or("neither pem nor base64url")?;
            SecretKey::from_slice(&raw).map_err(|_| "not a 32-byte p-256 private scalar")?
        };
        Ok(Self::from_secret(&secret))
    }

    /// The key pair of a P-256 secret key.
    pub fn from_secret(secret: &SecretKey) -> Self {
        Self {
            signing: SigningKey::from(secret),
            public: URL_SAFE_NO_PAD.encode(encoded_public(&secret.public_key())),
        }
    }

    /// base64url of the uncompressed public key.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// Signs a token for `aud` expiring at `exp` (seconds since the epoch).
    pub fn sign(&self, aud: &str, sub: &str, exp: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": aud, "exp": exp, "sub": sub });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{claims}");
        // JWS ES256 signatures are the raw 64-byte r || s, not DER (RFC 7518 §3.4).
        let signature: Signature = self.signing.sign(input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        format!("{input}.{signature}")
    }
}

#[derive(Debug, Clone)]
struct Cached {
    public: String,
    header: String,
    exp: u64,
}

/// `Authorization` header values cached per origin.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, Cached>>,
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `Authorization` value for a request to `origin`: `vapid t=<jwt>, k=<public key>`,
    /// reusing a cached token made with the same key while it has time left.
    pub fn authorization(
        &self,
        key: &VapidKey,
        origin: &str,
        sub: &str,
        now: SystemTime,
    ) -> String {
        let now_s = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = entries.get(origin) {
            if cached.public == key.public && cached.exp > now_s + RENEW_BEFORE.as_secs() {
                return cached.header.clone();
            }
        }
        let exp = now_s + TOKEN_LIFETIME.as_secs();
        let header = format!("vapid t={}, k={}", key.sign(origin, sub, exp), key.public);
        if entries.len() >= MAX_CACHED_ORIGINS && !entries.contains_key(origin) {
            entries.clear();
        }
        entries.insert(
            origin.to_owned(),
            Cached {
                public: key.public.clone(),
                header: header.clone(),
                exp,
            },
        );
        header
    }

    /// Drops the cached token of `origin`, after the push service refused it.
    pub fn forget(&self, origin: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(origin);
    }
}

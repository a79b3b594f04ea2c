//! APNs provider tokens: ES256 JWTs (`{"alg":"ES256","kid"}` / `{"iss","iat"}`) signed with the
//! team's `.p8` key.
//!
//! Guarantees: one token is shared by every request of a provider and reused for
//! [`REUSE_FOR`] (Apple refuses tokens older than an hour and throttles tokens renewed more
//! often than every 20 minutes); a replaced key file is noticed on the next request and a token
//! is minted with the new key at once. After APNs rejects a token, [`ProviderTokens::renew_rejected`]
//! mints a new one at most once per [`FORCED_RENEWAL_INTERVAL`], so a key APNs keeps refusing
//! cannot make us hammer it with new tokens. Tokens and keys are never logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::providers::credentials::{CredentialError, WatchedFile};
use crate::providers::push_http;

/// How long a minted token is used; renewed well before APNs' one-hour limit.
pub const REUSE_FOR: Duration = Duration::from_secs(50 * 60);

/// Least time between two renewals forced by a rejected token.
pub const FORCED_RENEWAL_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Why no provider token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The key file could not be read or is not a P-256 PKCS#8 key.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// Signing failed.
    #[error("cannot sign apns provider token: {0}")]
    Sign(String),
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

/// Signs a provider token issued at `iat` (seconds since the epoch).
pub(crate) fn mint(
    key: &EncodingKey,
    key_id: &str,
    team_id: &str,
    iat: u64,
) -> Result<String, TokenError> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key_id.to_owned());
    jsonwebtoken::encode(&header, &Claims { iss: team_id, iat }, key)
        .map_err(|e| TokenError::Sign(e.to_string()))
}

/// Parses a `.p8` file and proves it can sign, so a wrong file is refused when it is read and
/// not at the first send.
pub(crate) fn parse_key(bytes: &[u8]) -> Result<EncodingKey, String> {
    let key = EncodingKey::from_ec_pem(bytes)
        .map_err(|_| "not a pkcs#8 pem ec private key".to_owned())?;
    mint(&key, "probe", "probe", 0).map_err(|_| "not a usable p-256 signing key".to_owned())?;
    Ok(key)
}

struct Current {
    token: Issued,
    minted_at: Instant,
    key: Arc<EncodingKey>,
}

/// A token as handed out: the value, and which minting it came from (two tokens minted in the
/// same second with the same key are identical strings, so the value cannot tell them apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    /// The JWT.
    pub value: Arc<str>,
    generation: u64,
}

#[derive(Default)]
struct State {
    current: Option<Current>,
    last_forced: Option<Instant>,
}

/// The shared, cached provider token of one (team, key).
pub(crate) struct ProviderTokens {
    key: WatchedFile<EncodingKey>,
    key_id: String,
    team_id: String,
    state: Mutex<State>,
    minted: AtomicU64,
}

impl std::fmt::Debug for ProviderTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTokens")
            .field("key", &self.key)
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .finish_non_exhaustive()
    }
}

impl ProviderTokens {
    /// Reads the key now, so a missing or wrong key file fails at startup.
    pub(crate) fn new(
        key_file: &std::path::Path,
        key_id: &str,
        team_id: &str,
    ) -> Result<Self, CredentialError> {
        Ok(Self {
            key: WatchedFile::open(key_file, parse_key)?,
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
            state: Mutex::new(State::default()),
            minted: AtomicU64::new(0),
        })
    }

    /// The token to send now: the cached one unless it is due for renewal or the key file
    /// changed.
    pub(crate) fn current(&self) -> Result<Issued, TokenError> {
        let key = self.key.get()?;
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(current) = &state.current {
            let fresh = now.saturating_duration_since(current.minted_at) < REUSE_FOR;
            if fresh && Arc::ptr_eq(&current.key, &key) {
                return Ok(current.token.clone());
            }
        }
        self.mint_into(&mut state, key, now)
    }

    /// After APNs refused `rejected`: a token worth trying once more, or `None` when a new one
    /// would not help (already renewed recently with the same key).
    pub(crate) fn renew_rejected(&self, rejected: &Issued) -> Result<Option<Issued>, TokenError> {
        let key = self.key.get()?;
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(current) = &state.current {
            // Another request already replaced it: use the newer token.
            if current.token.generation != rejected.generation && Arc::ptr_eq(&current.key, &key) {
                return Ok(Some(current.token.clone()));
            }
        }
        let key_changed = state
            .current
            .as_ref()
            .is_some_and(|current| !Arc::ptr_eq(&current.key, &key));
        let recently_forced = state
            .last_forced
            .is_some_and(|at| now.saturating_duration_since(at) < FORCED_RENEWAL_INTERVAL);
        if recently_forced && !key_changed {
            return Ok(None);
        }
        state.last_forced = Some(now);
        self.mint_into(&mut state, key, now).map(Some)
    }

    /// How many tokens this cache has minted.
    #[cfg(test)]
    pub(crate) fn minted(&self) -> u64 {
        self.minted.load(Ordering::Relaxed)
    }

    /// Test hook: installs `token` as if it had just been minted with the current key.
    #[cfg(test)]
    pub(crate) fn install(&self, token: &str) {
        let key = self.key.get().expect("key file readable");
        self.lock().current = Some(Current {
            token: Issued {
                value: token.into(),
                generation: 0,
            },
            minted_at: Instant::now(),
            key,
        });
    }

    fn mint_into(
        &self,
        state: &mut State,
        key: Arc<EncodingKey>,
        now: Instant,
    ) -> Result<Issued, TokenError> {
        let value: Arc<str> = mint(
            &key,
            &self.key_id,
            &self.team_id,
            u64::try_from(push_http::now_s()).unwrap_or(0),
        )?
        .into();
        let minted = self.minted.fetch_add(1, Ordering::Relaxed) + 1;
        let token = Issued {
            value,
            generation: minted,
        };
        tracing::debug!(key_id = %self.key_id, minted, "minted apns provider token");
        state.current = Some(Current {
            token: token.clone(),
            minted_at: now,
            key,
        });
        Ok(token)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::DecodePublicKey as _;

    use super::*;

    #[test]
    fn tokens_are_jose_es256_that_a_plain_p256_verifier_accepts() {
        let key = notify_sim::keys::KeyPair::generate_p256().unwrap();
        let signing = parse_key(key.private_pem().as_bytes()).unwrap();
        let token = mint(&signing, "KEY1234567", "TEAM123456", 1_700_000_000).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "KEY1234567");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({ "iss": "TEAM123456", "iat": 1_700_000_000 })
        );
        // JOSE wants the raw r||s form, not DER.
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!(signature.len(), 64);
        let verifying = p256::ecdsa::VerifyingKey::from_public_key_pem(key.public_pem()).unwrap();
        let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifying.verify(signed.as_bytes(), &signature).unwrap();
        assert!(verifying.verify(b"something else", &signature).is_err());
    }

    fn tokens(dir: &std::path::Path) -> (ProviderTokens, std::path::PathBuf) {
        let key = notify_sim::keys::KeyPair::generate_p256().unwrap();
        let path = dir.join("AuthKey.p8");
        std::fs::write(&path, key.private_pem()).unwrap();
        (ProviderTokens::new(&path, "KID", "TEAM").unwrap(), path)
    }

    #[test]
    fn a_rejected_token_is_renewed_once_per_interval_unless_the_key_changes() {
        let dir = crate::providers::test_support::Scratch::new("apns-token");
        let (tokens, path) = tokens(dir.path());
        let first = tokens.current().unwrap();
        assert_eq!(tokens.current().unwrap(), first);
        let renewed = tokens.renew_rejected(&first).unwrap().unwrap();
        assert_eq!(tokens.minted(), 2);
        // A request still holding the old token gets the new one, without minting.
        assert_eq!(
            tokens.renew_rejected(&first).unwrap(),
            Some(renewed.clone())
        );
        // The new one refused too: no third token within the interval.
        assert_eq!(tokens.renew_rejected(&renewed).unwrap(), None);
        assert_eq!(tokens.minted(), 2);
        // A new key file is always worth a token.
        let rotated = notify_sim::keys::KeyPair::generate_p256().unwrap();
        std::fs::write(&path, format!("{}\n", rotated.private_pem())).unwrap();
        assert!(tokens.renew_rejected(&renewed).unwrap().is_some());
        assert_eq!(tokens.minted(), 3);
    }

    #[test]
    fn a_non_p256_key_is_refused() {
        let rsa = notify_sim::keys::KeyPair::generate_rsa().unwrap();
        assert!(parse_key(rsa.private_pem().as_bytes()).is_err());
        assert!(parse_key(b"garbage").is_err());
    }
}

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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::credentials::{CredentialError, WatchedFile};

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

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

struct Current {
    token: Arc<str>,
    minted_at: Instant,
    key: Arc<EncodingKey>,
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
    pub(crate) fn current(&self) -> Result<Arc<str>, TokenError> {
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
    pub(crate) fn renew_rejected(&self, rejected: &str) -> Result<Option<Arc<str>>, TokenError> {
        let key = self.key.get()?;
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(current) = &state.current {
            // Another request already replaced it: use the newer token.
            if &*current.token != rejected && Arc::ptr_eq(&current.key, &key) {
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
            token: token.into(),
            minted_at: Instant::now(),
            key,
        });
    }

    fn mint_into(
        &self,
        state: &mut State,
        key: Arc<EncodingKey>,
        now: Instant,
    ) -> Result<Arc<str>, TokenError> {
        let token: Arc<str> = mint(&key, &self.key_id, &self.team_id, now_s())?.into();
        let minted = self.minted.fetch_add(1, Ordering::Relaxed) + 1;
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

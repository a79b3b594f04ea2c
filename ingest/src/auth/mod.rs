//! Authentication of tenants: HTTP Basic `appKey:appSecret`, and bearer JWTs (HS256 keyed with
//! the app secret, or ES256 with a registered public key; see [`jwt`] for how a token names its
//! app). [`require_auth`] is the axum middleware; it puts the [`Tenant`] of the app and the
//! [`Scopes`] of its key into the request or answers a problem document. [`require_scope`],
//! layered on each group of routes inside it, lets through only keys with that group's scope
//! and answers 403 naming the scope otherwise.
//!
//! Guarantees: every rejection is the same 401, whatever was wrong (unknown key, wrong secret,
//! disabled app, bad token), and a wrong secret and an unknown key take the same work (see
//! `basic.rs`); the reason is only logged, at debug level, never with the credential. A
//! database failure answers 503, never 401, so clients retry instead of dropping their
//! credentials. Successful checks are remembered for `ingest.auth_cache_ttl_ms` and refusals
//! that needed a look-up for `ingest.auth_negative_cache_ttl_ms`, under a hash of the credential
//! (`cache.rs`).
//!
//! Not guaranteed: that a disabled app is refused before its cached verifications expire.

mod basic;
mod cache;
pub mod jwt;
mod middleware;
pub mod provision;
mod scope;
pub mod secrets;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use notify_common::config::IngestConfig;
use notify_store::tenants::{AppRecord, AppStore, Scopes};
use notify_store::StoreError;

pub use middleware::require_auth;
pub use scope::require_scope;
pub use secrets::{AppSecret, AppSecretSealing, SecretsKey, SecretsKeyError};

use crate::problem::Problem;
use crate::tenant::{AppKey, Tenant};
use cache::AuthCache;
use jwt::JwtSettings;

/// Longest accepted `Authorization` value. Real credentials are far shorter; the cap bounds the
/// work a hostile header can cause.
const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// Why credentials were refused. Only logged, never sent: every reason answers the same 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reject {
    /// No `Authorization` header.
    #[error("no credentials")]
    Missing,
    /// Not `Basic` or `Bearer`, not decodable, several headers, or too long.
    #[error("malformed authorization header")]
    Malformed,
    /// No app has the presented key.
    #[error("unknown app key")]
    UnknownApp,
    /// The app exists but the secret is wrong.
    #[error("wrong app secret")]
    WrongSecret,
    /// The app is disabled.
    #[error("app disabled")]
    Disabled,
    /// The app accepts no bearer tokens, or HS256 tokens cannot be checked because no secrets
    /// key is configured.
    #[error("bearer tokens not enabled for the app")]
    TokensNotEnabled,
    /// The token's header names another algorithm than the one pinned for the app.
    #[error("token algorithm differs from the app's")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("bad token signature")]
    BadSignature,
    /// `exp` is past, beyond the leeway.
    #[error("token expired")]
    Expired,
    /// `nbf` is ahead, beyond the leeway.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is ahead, beyond the leeway.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `exp`, `iat`, `iss` or `aud` is missing.
    #[error("token lacks a required claim")]
    MissingClaim,
    /// `aud` is not the configured audience.
    #[error("token for another audience")]
    WrongAudience,
    /// `iss` is not the app's key.
    #[error("token issuer is not the app")]
    WrongIssuer,
    /// The token is not a well-formed JWT.
    #[error("malformed token")]
    MalformedToken,
}

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The credentials are missing or wrong: 401.
    #[error("credentials rejected: {0}")]
    Unauthorized(#[from] Reject),
    /// The app store could not be asked: 503, the client should retry.
    #[error("cannot read apps: {0}")]
    Unavailable(#[source] Box<StoreError>),
    /// Our own data is unusable (a stored key that does not parse or decrypt): 500.
    #[error("cannot check credentials: {0}")]
    Internal(String),
}

impl AuthError {
    fn from_store(err: StoreError) -> Self {
        match err {
            // The row is there but broken: retrying will not help.
            StoreError::Result(detail) => AuthError::Internal(detail),
            other => AuthError::Unavailable(Box::new(other)),
        }
    }

    /// The `outcome` label of [`crate::metrics::AUTH_TOTAL`] for this error.
    pub fn outcome(&self) -> &'static str {
        match self {
            AuthError::Unauthorized(_) => "unauthorized",
            AuthError::Unavailable(_) => "unavailable",
            AuthError::Internal(_) => "error",
        }
    }

    /// The answer to the client; logs the cause once (rejections at debug level only).
    pub fn into_problem(self) -> Problem {
        match self {
            AuthError::Unauthorized(reason) => {
                tracing::debug!(%reason, "credentials rejected");
                Problem::unauthorized()
            }
            AuthError::Unavailable(err) => Problem::outage(
                "cannot authenticate: app store unavailable",
                &err,
                "authentication is temporarily unavailable",
            ),
            err @ AuthError::Internal(_) => Problem::internal(&err),
        }
    }
}

/// Who a request authenticated as: the tenant of the app, and what the app's key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant every read and write is scoped to.
    pub tenant: Tenant,
    /// The scopes of the app's key.
    pub scopes: Scopes,
    /// The app key itself.
    pub app_key: AppKey,
}

/// Reads the secrets key file (`ingest.secrets_key_file`): 64 hex digits.
pub fn load_secrets_key(path: &Path) -> Result<SecretsKey, SecretsKeyError> {
    SecretsKey::from_file(path)
}

/// Checks the credentials of requests against an [`AppStore`].
pub struct Authenticator {
    store: Arc<dyn AppStore>,
    secrets_key: Option<SecretsKey>,
    jwt: JwtSettings,
    cache: AuthCache,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("hs256", &self.secrets_key.is_some())
            .field("jwt", &self.jwt)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// How a request presented its credentials.
enum Scheme {
    Basic,
    Bearer,
}

impl Authenticator {
    /// An authenticator reading apps from `store`. Without `secrets_key`, HS256 tokens are
    /// refused (Basic and ES256 still work).
    pub fn new(
        store: Arc<dyn AppStore>,
        config: &IngestConfig,
        secrets_key: Option<SecretsKey>,
    ) -> Self {
        Self {
            store,
            secrets_key,
            jwt: JwtSettings {
                audience: config.jwt_audience.clone(),
                leeway_s: config.jwt_leeway_s,
            },
            cache: AuthCache::new(
                Duration::from_millis(config.auth_cache_ttl_ms),
                Duration::from_millis(config.auth_negative_cache_ttl_ms),
            ),
        }
    }

    /// The tenant and scopes of the app that presented the `Authorization` header in
    /// `headers`.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let now_s = jsonwebtoken::get_current_timestamp();
        let value = authorization(headers)?;
        let cache_key = AuthCache::key(value);
        if let Some(principal) = self.cache.get(&cache_key, now_s).await {
            return Ok(principal);
        }
        if let Some(reason) = self.cache.refused(&cache_key).await {
            return Err(reason.into());
        }
        match self.verify(value, now_s).await {
            Ok((principal, valid_until_s)) => {
                self.cache
                    .insert(cache_key, principal.clone(), valid_until_s)
                    .await;
                Ok(principal)
            }
            Err(AuthError::Unauthorized(reason)) => {
                // what did not parse cost no look-up; remembering it would only fill the map
                if !matches!(
                    reason,
                    Reject::Missing | Reject::Malformed | Reject::MalformedToken
                ) {
                    self.cache.insert_refused(cache_key, reason).await;
                }
                Err(reason.into())
            }
            Err(err) => Err(err),
        }
    }

    /// Checks `value` against the store: who it is and, for tokens, until when it is valid.
    async fn verify(&self, value: &str, now_s: u64) -> Result<(Principal, Option<u64>), AuthError> {
        Ok(match split_scheme(value)? {
            (Scheme::Basic, credentials) => {
                let (app_key, secret) = basic::parse(credentials)?;
                let app = self
                    .store
                    .app_by_key(&app_key)
                    .await
                    .map_err(AuthError::from_store)?;
                let app = basic::check(&secret, app)?;
                (principal(app), None)
            }
            (Scheme::Bearer, token) => {
                let app_key = jwt::claimed_app_key(token)?;
                let app = self
                    .store
                    .app_by_key(&app_key)
                    .await
                    .map_err(AuthError::from_store)?
                    .ok_or(Reject::UnknownApp)?;
                let verified =
                    jwt::verify(token, &app, self.secrets_key.as_ref(), &self.jwt, now_s)?;
                if app.disabled {
                    return Err(Reject::Disabled.into());
                }
                (principal(app), Some(verified.valid_until_s))
            }
        })
    }
}

fn principal(app: AppRecord) -> Principal {
    Principal {
        tenant: Tenant(app.tenant_id),
        scopes: app.scopes,
        app_key: AppKey(app.app_key),
    }
}

/// The single `Authorization` value, as text.
fn authorization(headers: &HeaderMap) -> Result<&str, Reject> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(Reject::Missing)?;
    if values.next().is_some() || value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(Reject::Malformed);
    }
    value.to_str().map_err(|_| Reject::Malformed)
}

/// The scheme (case-insensitive, RFC 9110) and the credentials after it.
fn split_scheme(value: &str) -> Result<(Scheme, &str), Reject> {
    let (scheme, credentials) = value.trim().split_once(' ').ok_or(Reject::Malformed)?;
    let credentials = credentials.trim();
    if credentials.is_empty() {
        return Err(Reject::Malformed);
    }
    if scheme.eq_ignore_ascii_case("basic") {
        Ok((Scheme::Basic, credentials))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok((Scheme::Bearer, credentials))
    } else {
        Err(Reject::Malformed)
    }
}

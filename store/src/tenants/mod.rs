//! Tenants and their apps (API credentials): the narrow [`AppStore`] trait the ingest gateway
//! authenticates against, its Cassandra implementation [`CassandraTenants`] and an in-memory
//! fake [`MemoryTenants`] with the same behaviour, for tests and the embedded demo.
//!
//! Guarantees: the store never sees a clear app secret, only its hash and (when the operator
//! configured a secrets key) its ciphertext, and [`AppRecord`]'s `Debug` prints neither. Every
//! statement is prepared once, when [`CassandraTenants::new`] runs.
//!
//! Each app carries its [`Scopes`]: what its key may do. A row written before scopes existed
//! (a null `apps.scopes`) reads as [`Scopes::LEGACY`], every scope, because every key was a
//! tenant admin then; new apps get what the operator chose.
//!
//! Not guaranteed: uniqueness of ids. Tenant ids and app keys are generated with enough
//! randomness (80 and 119 bits) that a plain `INSERT` is used instead of a lightweight
//! transaction; a create with an existing id overwrites it, in both implementations.

mod cassandra;
mod memory;
mod scopes;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::session::StoreResult;

pub use cassandra::CassandraTenants;
pub use memory::MemoryTenants;
pub use scopes::{Scope, ScopeError, Scopes};

/// The future every [`AppStore`] method returns; boxed so the trait can be used as
/// `Arc<dyn AppStore>`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

/// Length of a SHA-256 digest, the only secret hash stored.
pub const SECRET_HASH_LEN: usize = 32;

/// A tenant: the unit every user, device, template and notification belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// Opaque id, e.g. `tn_` followed by 20 hex digits.
    pub tenant_id: String,
    /// Human-readable name, for operators.
    pub name: String,
}

/// How bearer tokens of an app are verified. The algorithm is pinned here, per app, and never
/// taken from a token's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtKey {
    /// HMAC-SHA256 keyed with the app secret; needs the secret's ciphertext and the secrets key.
    Hs256,
    /// ECDSA P-256 / SHA-256 checked with the registered public key.
    Es256 {
        /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
        public_key_pem: String,
    },
}

impl JwtKey {
    /// The JOSE algorithm name, as stored in `apps.jwt_algorithm`.
    pub fn algorithm_name(&self) -> &'static str {
        match self {
            JwtKey::Hs256 => "HS256",
            JwtKey::Es256 { .. } => "ES256",
        }
    }
}

/// One app of a tenant: a key pair of public app key and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AppRecord {
    /// Public id presented with every request (`ak_...`).
    pub app_key: String,
    /// The tenant the app authenticates as.
    pub tenant_id: String,
    /// SHA-256 of the app secret, checked for HTTP Basic.
    pub secret_hash: [u8; SECRET_HASH_LEN],
    /// The app secret encrypted with the operator's secrets key (format owned by the ingest
    /// gateway), present only if a key was configured when the app was created.
    pub secret_ciphertext: Option<Vec<u8>>,
    /// How bearer tokens are verified; `None` accepts Basic only.
    pub jwt: Option<JwtKey>,
    /// What the app's key may do.
    pub scopes: Scopes,
    /// A disabled app is refused, whatever it presents.
    pub disabled: bool,
}

impl fmt::Debug for AppRecord {
    // The hash and ciphertext are not the secret, but neither belongs in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppRecord")
            .field("app_key", &self.app_key)
            .field("tenant_id", &self.tenant_id)
            .field("secret_hash", &"[redacted]")
            .field(
                "secret_ciphertext",
                &self.secret_ciphertext.as_ref().map(|_| "[redacted]"),
            )
            .field("jwt", &self.jwt.as_ref().map(JwtKey::algorithm_name))
            .field("scopes", &self.scopes)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// Storage of tenants and apps, as the gateway and the operator commands need it.
pub trait AppStore: Send + Sync {
    /// The app with this key, if any. The only call on the request path.
    fn app_by_key<'a>(&'a self, app_key: &'a str) -> StoreFuture<'a, Option<AppRecord>>;
    /// The tenant with this id, if any.
    fn tenant_by_id<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Option<TenantRecord>>;
    /// Stores a new tenant.
    fn create_tenant<'a>(&'a self, tenant: &'a TenantRecord) -> StoreFuture<'a, ()>;
    /// Stores a new app. The caller checks that its tenant exists.
    fn create_app<'a>(&'a self, app: &'a AppRecord) -> StoreFuture<'a, ()>;
    /// Disables or re-enables an app; `false` if there is no such app.
    fn set_app_disabled<'a>(&'a self, app_key: &'a str, disabled: bool) -> StoreFuture<'a, bool>;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn app(key: &str) -> AppRecord {
        AppRecord {
            app_key: key.into(),
            tenant_id: "tn_1".into(),
            secret_hash: [7; SECRET_HASH_LEN],
            secret_ciphertext: Some(vec![1, 2, 3]),
            jwt: Some(JwtKey::Hs256),
            scopes: Scopes::DEFAULT,
            disabled: false,
        }
    }

    #[test]
    fn debug_of_an_app_hides_hash_and_ciphertext() {
        let text = format!("{:?}", app("ak_1"));
        assert!(text.contains("ak_1"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
        assert!(!text.contains("[7, 7"), "{text}");
        assert!(!text.contains("[1, 2, 3]"), "{text}");
    }
}

//! Tenants and their apps (API credentials): the narrow [`AppStore`] trait the ingest gateway
//! authenticates against, its Cassandra implementation [`CassandraTenants`] and an in-memory
//! fake [`MemoryTenants`] with the same behaviour, for tests and the embedded demo.
//!
//! Guarantees: the store never sees a clear app secret, only its hash and (when the operator
//! configured a secrets key) its ciphertext, and [`AppRecord`]'s `Debug` prints neither. Every
//! statement is prepared once, when [`CassandraTenants::new`] runs.
//!
//! Not guaranteed: uniqueness of ids. Tenant ids and app keys are generated with enough
//! randomness (80 and 119 bits) that a plain `INSERT` is used instead of a lightweight
//! transaction; a create with an existing id overwrites it, in both implementations.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use notify_common::config::is_cql_identifier;
use scylla::client::session::Session;
use scylla::errors::ExecutionError;
use scylla::statement::prepared::PreparedStatement;

use crate::session::StoreError;

/// The future every [`AppStore`] method returns; boxed so the trait can be used as
/// `Arc<dyn AppStore>`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

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

/// [`AppStore`] on the `tenants` and `apps` tables.
#[derive(Debug)]
pub struct CassandraTenants {
    session: Arc<Session>,
    app_by_key: PreparedStatement,
    tenant_by_id: PreparedStatement,
    insert_tenant: PreparedStatement,
    insert_app: PreparedStatement,
    set_disabled: PreparedStatement,
}

impl CassandraTenants {
    /// Prepares the statements against `keyspace` (which must already be migrated).
    pub async fn new(session: Arc<Session>, keyspace: &str) -> Result<Self, StoreError> {
        if !is_cql_identifier(keyspace) {
            return Err(StoreError::Config(format!(
                "keyspace {keyspace:?} is not a plain identifier"
            )));
        }
        let prepare = |cql: String| {
            let session = Arc::clone(&session);
            async move { session.prepare(cql).await }
        };
        let app_by_key = prepare(format!(
            "SELECT tenant_id, secret_hash, secret_ciphertext, jwt_algorithm, jwt_public_key, \
             disabled FROM {keyspace}.apps WHERE app_key = ?"
        ))
        .await?;
        let tenant_by_id = prepare(format!(
            "SELECT name FROM {keyspace}.tenants WHERE tenant_id = ?"
        ))
        .await?;
        let insert_tenant = prepare(format!(
            "INSERT INTO {keyspace}.tenants \
             (tenant_id, name, allow_critical_bypass, created_at, updated_at) \
             VALUES (?, ?, false, toTimestamp(now()), toTimestamp(now()))"
        ))
        .await?;
        let insert_app = prepare(format!(
            "INSERT INTO {keyspace}.apps (app_key, tenant_id, secret_hash, secret_ciphertext, \
             jwt_algorithm, jwt_public_key, disabled, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, toTimestamp(now()))"
        ))
        .await?;
        let set_disabled = prepare(format!(
            "UPDATE {keyspace}.apps SET disabled = ? WHERE app_key = ?"
        ))
        .await?;
        Ok(Self {
            session,
            app_by_key,
            tenant_by_id,
            insert_tenant,
            insert_app,
            set_disabled,
        })
    }

    async fn fetch_app(&self, app_key: &str) -> Result<Option<AppRecord>, StoreError> {
        type Row = (
            Option<String>,
            Option<String>,
            Option<Vec<u8>>,
            Option<String>,
            Option<String>,
            Option<bool>,
        );
        let result = self
            .session
            .execute_unpaged(&self.app_by_key, (app_key,))
            .await?
            .into_rows_result()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        let Some(row) = result
            .maybe_first_row::<Row>()
            .map_err(|err| StoreError::Result(err.to_string()))?
        else {
            return Ok(None);
        };
        let (tenant_id, secret_hash, secret_ciphertext, algorithm, public_key, disabled) = row;
        let broken = |what: &str| StoreError::Result(format!("app {app_key}: {what}"));
        let tenant_id = tenant_id.ok_or_else(|| broken("tenant_id is null"))?;
        let secret_hash = secret_hash
            .as_deref()
            .and_then(decode_hash)
            .ok_or_else(|| broken("secret_hash is not 64 hex digits"))?;
        let jwt = match (algorithm.as_deref(), public_key) {
            (None, _) => None,
            (Some("HS256"), _) => Some(JwtKey::Hs256),
            (Some("ES256"), Some(public_key_pem)) => Some(JwtKey::Es256 { public_key_pem }),
            (Some("ES256"), None) => return Err(broken("ES256 without jwt_public_key")),
            (Some(_), _) => return Err(broken("unknown jwt_algorithm")),
        };
        Ok(Some(AppRecord {
            app_key: app_key.to_owned(),
            tenant_id,
            secret_hash,
            secret_ciphertext,
            jwt,
            // A null flag means the row was written without one: not disabled.
            disabled: disabled.unwrap_or(false),
        }))
    }

    async fn fetch_tenant(&self, tenant_id: &str) -> Result<Option<TenantRecord>, StoreError> {
        let result = self
            .session
            .execute_unpaged(&self.tenant_by_id, (tenant_id,))
            .await?
            .into_rows_result()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        let row = result
            .maybe_first_row::<(Option<String>,)>()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        Ok(row.map(|(name,)| TenantRecord {
            tenant_id: tenant_id.to_owned(),
            name: name.unwrap_or_default(),
        }))
    }
}

impl AppStore for CassandraTenants {
    fn app_by_key<'a>(&'a self, app_key: &'a str) -> StoreFuture<'a, Option<AppRecord>> {
        Box::pin(self.fetch_app(app_key))
    }

    fn tenant_by_id<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Option<TenantRecord>> {
        Box::pin(self.fetch_tenant(tenant_id))
    }

    fn create_tenant<'a>(&'a self, tenant: &'a TenantRecord) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.session
                .execute_unpaged(&self.insert_tenant, (&tenant.tenant_id, &tenant.name))
                .await?;
            Ok(())
        })
    }

    fn create_app<'a>(&'a self, app: &'a AppRecord) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let (algorithm, public_key) = match &app.jwt {
                None => (None, None),
                Some(key @ JwtKey::Hs256) => (Some(key.algorithm_name()), None),
                Some(key @ JwtKey::Es256 { public_key_pem }) => {
                    (Some(key.algorithm_name()), Some(public_key_pem.as_str()))
                }
            };
            self.session
                .execute_unpaged(
                    &self.insert_app,
                    (
                        &app.app_key,
                        &app.tenant_id,
                        encode_hash(&app.secret_hash),
                        &app.secret_ciphertext,
                        algorithm,
                        public_key,
                        app.disabled,
                    ),
                )
                .await?;
            Ok(())
        })
    }

    fn set_app_disabled<'a>(&'a self, app_key: &'a str, disabled: bool) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            // An UPDATE of a missing key would create a partial row; apps are never deleted,
            // so checking first is race-free.
            if self.fetch_app(app_key).await?.is_none() {
                return Ok(false);
            }
            self.session
                .execute_unpaged(&self.set_disabled, (disabled, app_key))
                .await?;
            Ok(true)
        })
    }
}

fn encode_hash(hash: &[u8; SECRET_HASH_LEN]) -> String {
    hex::encode(hash)
}

fn decode_hash(text: &str) -> Option<[u8; SECRET_HASH_LEN]> {
    let mut hash = [0u8; SECRET_HASH_LEN];
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

/// In-memory [`AppStore`] behaving like [`CassandraTenants`], for tests and the embedded demo.
/// [`MemoryTenants::set_unavailable`] makes every call fail like an unreachable cluster.
#[derive(Debug, Default)]
pub struct MemoryTenants {
    data: Mutex<MemoryData>,
    unavailable: AtomicBool,
}

#[derive(Debug, Default)]
struct MemoryData {
    tenants: HashMap<String, TenantRecord>,
    apps: HashMap<String, AppRecord>,
}

impl MemoryTenants {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// While `true`, every call fails with a client timeout, as when the cluster is down.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// The data, or `None` while the store plays unreachable.
    fn data(&self) -> Option<MutexGuard<'_, MemoryData>> {
        if self.unavailable.load(Ordering::SeqCst) {
            return None;
        }
        // A panic while holding the lock cannot leave the maps half-updated (each operation
        // is a single insert), so a poisoned lock is still consistent.
        Some(
            self.data
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Runs `op` on the data, or fails like an unreachable cluster.
    fn with_data<'a, T: Send + 'a>(
        &self,
        op: impl FnOnce(&mut MemoryData) -> T,
    ) -> StoreFuture<'a, T> {
        let result = match self.data() {
            Some(mut data) => Ok(op(&mut data)),
            None => Err(StoreError::Execute(Box::new(
                ExecutionError::RequestTimeout(Duration::from_secs(5)),
            ))),
        };
        Box::pin(std::future::ready(result))
    }
}

impl AppStore for MemoryTenants {
    fn app_by_key<'a>(&'a self, app_key: &'a str) -> StoreFuture<'a, Option<AppRecord>> {
        self.with_data(|data| data.apps.get(app_key).cloned())
    }

    fn tenant_by_id<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Option<TenantRecord>> {
        self.with_data(|data| data.tenants.get(tenant_id).cloned())
    }

    fn create_tenant<'a>(&'a self, tenant: &'a TenantRecord) -> StoreFuture<'a, ()> {
        self.with_data(|data| {
            data.tenants
                .insert(tenant.tenant_id.clone(), tenant.clone());
        })
    }

    fn create_app<'a>(&'a self, app: &'a AppRecord) -> StoreFuture<'a, ()> {
        self.with_data(|data| {
            data.apps.insert(app.app_key.clone(), app.clone());
        })
    }

    fn set_app_disabled<'a>(&'a self, app_key: &'a str, disabled: bool) -> StoreFuture<'a, bool> {
        self.with_data(|data| match data.apps.get_mut(app_key) {
            Some(app) => {
                app.disabled = disabled;
                true
            }
            None => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(key: &str) -> AppRecord {
        AppRecord {
            app_key: key.into(),
            tenant_id: "tn_1".into(),
            secret_hash: [7; SECRET_HASH_LEN],
            secret_ciphertext: Some(vec![1, 2, 3]),
            jwt: Some(JwtKey::Hs256),
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

    #[test]
    fn hash_text_round_trips() {
        let hash = [0xab; SECRET_HASH_LEN];
        assert_eq!(decode_hash(&encode_hash(&hash)), Some(hash));
        assert_eq!(decode_hash("abcd"), None);
        assert_eq!(decode_hash(&"zz".repeat(SECRET_HASH_LEN)), None);
    }

    #[tokio::test]
    async fn memory_store_reads_back_and_disables() {
        let store = MemoryTenants::new();
        let tenant = TenantRecord {
            tenant_id: "tn_1".into(),
            name: "acme".into(),
        };
        store.create_tenant(&tenant).await.expect("create tenant");
        store.create_app(&app("ak_1")).await.expect("create app");
        assert_eq!(
            store.tenant_by_id("tn_1").await.expect("read"),
            Some(tenant)
        );
        assert_eq!(
            store.app_by_key("ak_1").await.expect("read"),
            Some(app("ak_1"))
        );
        assert_eq!(store.app_by_key("ak_2").await.expect("read"), None);

        assert!(store.set_app_disabled("ak_1", true).await.expect("disable"));
        assert!(!store.set_app_disabled("ak_2", true).await.expect("disable"));
        let read = store
            .app_by_key("ak_1")
            .await
            .expect("read")
            .expect("present");
        assert!(read.disabled);
    }

    #[tokio::test]
    async fn unavailable_memory_store_fails_every_call() {
        let store = MemoryTenants::new();
        store.set_unavailable(true);
        assert!(matches!(
            store.app_by_key("ak_1").await,
            Err(StoreError::Execute(_))
        ));
        store.set_unavailable(false);
        assert_eq!(store.app_by_key("ak_1").await.expect("read"), None);
    }
}

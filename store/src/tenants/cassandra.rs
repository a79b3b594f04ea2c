//! [`CassandraTenants`]: tenants and apps on the `tenants` and `apps` tables. Every statement
//! is prepared once, when [`CassandraTenants::new`] runs; hashes are stored as hex text, scopes
//! as a `set<text>` of their names (null, in rows older than migration 3, reads as
//! [`Scopes::LEGACY`]).

use std::sync::Arc;

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;

use super::{AppRecord, AppStore, JwtKey, Scopes, StoreFuture, TenantRecord, SECRET_HASH_LEN};
use crate::cql::check_keyspace;
use crate::session::{StoreError, StoreResult};

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
    pub async fn new(session: Arc<Session>, keyspace: &str) -> StoreResult<Self> {
        check_keyspace(keyspace)?;
        let prepare = |cql: String| {
            let session = Arc::clone(&session);
            async move { session.prepare(cql).await }
        };
        let app_by_key = prepare(format!(
            "SELECT tenant_id, secret_hash, secret_ciphertext, jwt_algorithm, jwt_public_key, \
             scopes, disabled FROM {keyspace}.apps WHERE app_key = ?"
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
             jwt_algorithm, jwt_public_key, scopes, disabled, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, toTimestamp(now()))"
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

    async fn fetch_app(&self, app_key: &str) -> StoreResult<Option<AppRecord>> {
        type Row = (
            Option<String>,
            Option<String>,
            Option<Vec<u8>>,
            Option<String>,
            Option<String>,
            Option<Vec<String>>,
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
        let (tenant_id, secret_hash, secret_ciphertext, algorithm, public_key, scopes, disabled) =
            row;
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
        let scopes = match scopes {
            // Written before migration 3 (or, impossible for a non-empty set, empty): the row
            // predates scopes and its key was a tenant admin.
            None => Scopes::LEGACY,
            Some(names) => Scopes::from_names(&names).map_err(|err| broken(&err.to_string()))?,
        };
        Ok(Some(AppRecord {
            app_key: app_key.to_owned(),
            tenant_id,
            secret_hash,
            secret_ciphertext,
            jwt,
            scopes,
            // A null flag means the row was written without one: not disabled.
            disabled: disabled.unwrap_or(false),
        }))
    }

    async fn fetch_tenant(&self, tenant_id: &str) -> StoreResult<Option<TenantRecord>> {
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
                        // never empty, so never stored as the null of a legacy row
                        app.scopes.names(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_text_round_trips() {
        let hash = [0xab; SECRET_HASH_LEN];
        assert_eq!(decode_hash(&encode_hash(&hash)), Some(hash));
        assert_eq!(decode_hash("abcd"), None);
        assert_eq!(decode_hash(&"zz".repeat(SECRET_HASH_LEN)), None);
    }
}

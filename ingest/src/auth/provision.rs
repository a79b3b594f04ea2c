//! Creating tenants and apps, for the operator commands (`notify tenants create`,
//! `notify apps create`).
//!
//! Guarantees: a new app's secret leaves this module only inside the returned [`IssuedApp`],
//! to be shown once; the store gets its hash, and its ciphertext only when the app is pinned to
//! HS256 (the one case that needs the clear secret back). An app is only created for an
//! existing tenant, and an ES256 key is checked to be a usable P-256 public key first. An app
//! gets exactly the scopes it is created with; choosing them (and the default) is the caller's.

use notify_store::tenants::{AppRecord, AppStore, JwtKey, Scopes, TenantRecord};
use notify_store::StoreError;

use super::jwt::{check_es256_public_key, PublicKeyError};
use super::secrets::{
    generate_app_key, generate_tenant_id, AppSecret, AppSecretSealing, SecretsKey,
};

/// Longest tenant name.
pub const MAX_TENANT_NAME_CHARS: usize = 200;

/// Why a tenant or app was not created.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The tenant name is empty, too long or has control characters.
    #[error("the tenant name must be 1 to {MAX_TENANT_NAME_CHARS} characters, without control characters")]
    InvalidName,
    /// No tenant has this id.
    #[error("no tenant {0}")]
    UnknownTenant(String),
    /// HS256 was asked for but no secrets key is configured to keep the secret for it.
    #[error("HS256 tokens need ingest.secrets_key_file to be configured")]
    SecretsKeyRequired,
    /// The ES256 public key cannot be used.
    #[error(transparent)]
    PublicKey(#[from] PublicKeyError),
    /// The store failed.
    #[error(transparent)]
    Store(Box<StoreError>),
}

impl From<StoreError> for ProvisionError {
    fn from(err: StoreError) -> Self {
        ProvisionError::Store(Box::new(err))
    }
}

/// A created app, with the secret to show once.
#[derive(Debug, Clone)]
pub struct IssuedApp {
    /// The public app key.
    pub app_key: String,
    /// The secret; its `Debug` is redacted, use [`AppSecret::expose`] to print it.
    pub secret: AppSecret,
    /// The tenant the app authenticates as.
    pub tenant_id: String,
    /// How its bearer tokens are verified, if at all.
    pub jwt: Option<JwtKey>,
    /// What its key may do.
    pub scopes: Scopes,
}

/// Creates a tenant named `name` with a new random id.
pub async fn create_tenant(
    store: &dyn AppStore,
    name: &str,
) -> Result<TenantRecord, ProvisionError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_TENANT_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ProvisionError::InvalidName);
    }
    let tenant = TenantRecord {
        tenant_id: generate_tenant_id(),
        name: name.to_owned(),
    };
    store.create_tenant(&tenant).await?;
    Ok(tenant)
}

/// Creates an app of `tenant_id` with a new key and secret. `jwt` pins how its bearer tokens
/// are verified (`None`: Basic only); HS256 needs `secrets_key`. The key may do what `scopes`
/// allow.
pub async fn create_app(
    store: &dyn AppStore,
    tenant_id: &str,
    jwt: Option<JwtKey>,
    scopes: Scopes,
    secrets_key: Option<&SecretsKey>,
) -> Result<IssuedApp, ProvisionError> {
    match &jwt {
        Some(JwtKey::Hs256) if secrets_key.is_none() => {
            return Err(ProvisionError::SecretsKeyRequired)
        }
        Some(JwtKey::Es256 { public_key_pem }) => check_es256_public_key(public_key_pem)?,
        _ => {}
    }
    if store.tenant_by_id(tenant_id).await?.is_none() {
        return Err(ProvisionError::UnknownTenant(tenant_id.to_owned()));
    }
    let app_key = generate_app_key();
    let secret = AppSecret::generate();
    let secret_ciphertext = match (&jwt, secrets_key) {
        (Some(JwtKey::Hs256), Some(key)) => Some(key.encrypt(&app_key, &secret)),
        _ => None,
    };
    let record = AppRecord {
        app_key: app_key.clone(),
        tenant_id: tenant_id.to_owned(),
        secret_hash: secret.hash(),
        secret_ciphertext,
        jwt: jwt.clone(),
        scopes,
        disabled: false,
    };
    store.create_app(&record).await?;
    Ok(IssuedApp {
        app_key,
        secret,
        tenant_id: tenant_id.to_owned(),
        jwt,
        scopes,
    })
}

//! Operator commands for tenants and their apps: `notify tenants create`, `notify apps create`,
//! `notify apps disable` / `enable`. The logic lives in `notify_ingest::auth::provision`; this
//! module connects, reads files and prints.
//!
//! Output: the values go to stdout as `name: value` lines, so scripts can pick them out; advice
//! goes to stderr. A new app's secret is printed exactly once, here; nothing keeps it in clear.

use std::path::Path;
use std::sync::Arc;

use crate::out::outln;
use anyhow::Context;
use notify_common::Config;
use notify_ingest::auth::provision;
use notify_ingest::auth::SecretsKey;
use notify_store::settings::{CassandraSettings, SettingsStore, TenantSettings};
use notify_store::tenants::{AppStore, CassandraTenants, JwtKey, Scope, Scopes};

/// Bearer token algorithm of a new app, as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JwtAlg {
    /// HMAC-SHA256 keyed with the app secret (needs `ingest.secrets_key_file`).
    Hs256,
    /// ECDSA P-256 with the public key given by `--jwt-public-key`.
    Es256,
}

async fn tenants_store(config: &Config) -> anyhow::Result<CassandraTenants> {
    let session = Arc::new(notify_store::connect(&config.store).await?);
    Ok(CassandraTenants::new(session, &config.store.keyspace).await?)
}

/// `notify tenants create --name <name>`: creates a tenant and prints its id.
pub async fn create_tenant(config: &Config, name: &str) -> anyhow::Result<()> {
    let store = tenants_store(config).await?;
    let tenant = provision::create_tenant(&store, name).await?;
    outln!("tenant_id: {}", tenant.tenant_id)?;
    Ok(())
}

/// `notify tenants settings --tenant <id> [--set <file>]`: prints the tenant's settings as
/// JSON, or validates and stores new ones from a JSON file (`-` for standard input).
pub async fn settings(config: &Config, tenant_id: &str, set: Option<&Path>) -> anyhow::Result<()> {
    let session = Arc::new(notify_store::connect(&config.store).await?);
    let tenants = CassandraTenants::new(session.clone(), &config.store.keyspace).await?;
    if tenants.tenant_by_id(tenant_id).await?.is_none() {
        anyhow::bail!("tenant {tenant_id} does not exist");
    }
    let store = CassandraSettings::new(session, &config.store.keyspace).await?;
    if let Some(path) = set {
        let text = if path == Path::new("-") {
            std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
        } else {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?
        };
        let settings: TenantSettings = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid tenant settings JSON", path.display()))?;
        settings
            .validate()
            .map_err(|reason| anyhow::anyhow!("invalid settings: {reason}"))?;
        store.put_settings(tenant_id, &settings).await?;
        eprintln!(
            "settings stored; routers apply them within their cache TTL (router.cache_ttl_ms)"
        );
    }
    let current = store.settings(tenant_id).await?.unwrap_or_default();
    outln!("{}", serde_json::to_string_pretty(&current)?)?;
    Ok(())
}

/// `notify apps create --tenant <id> [--jwt-alg hs256|es256] [--jwt-public-key <pem file>]
/// [--scopes send,status,admin]`: creates an app and prints its key, secret and scopes, the
/// secret only this once.
///
/// Without `--jwt-alg` the app accepts HS256 tokens when a secrets key is configured, and only
/// HTTP Basic otherwise.
pub async fn create_app(
    config: &Config,
    tenant_id: &str,
    jwt_alg: Option<JwtAlg>,
    jwt_public_key: Option<&Path>,
    scopes: Scopes,
) -> anyhow::Result<()> {
    let secrets_key = SecretsKey::load(&config.ingest)?;
    let public_key_pem = jwt_public_key
        .map(|path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the public key {}", path.display()))
        })
        .transpose()?;
    let jwt = jwt_key(jwt_alg, public_key_pem, secrets_key.is_some())?;
    let store = tenants_store(config).await?;
    let app = provision::create_app(&store, tenant_id, jwt, scopes, secrets_key.as_ref()).await?;

    outln!("tenant_id:  {}", app.tenant_id)?;
    outln!("app_key:    {}", app.app_key)?;
    outln!("app_secret: {}", app.secret.expose())?;
    outln!(
        "jwt:        {}",
        app.jwt.as_ref().map_or("none", JwtKey::algorithm_name)
    )?;
    outln!("scopes:     {}", app.scopes)?;
    eprintln!("the app secret is shown only now; keep it in a secret store");
    if app.scopes.contains(Scope::Admin) {
        eprintln!(
            "this key may manage the tenant's users, devices, preferences, templates and \
             categories (scope admin)"
        );
    }
    if app.jwt.is_none() {
        eprintln!(
            "no ingest.secrets_key_file is configured, so this app accepts HTTP Basic only; \
             configure one before creating apps that sign HS256 tokens"
        );
    }
    Ok(())
}

/// `notify apps disable --key <app key>` (`disabled = true`) and `notify apps enable`.
/// Gateways stop accepting the app once their auth cache entries expire
/// (`ingest.auth_cache_ttl_ms`).
pub async fn set_app_disabled(
    config: &Config,
    app_key: &str,
    disabled: bool,
) -> anyhow::Result<()> {
    let store = tenants_store(config).await?;
    if !store.set_app_disabled(app_key, disabled).await? {
        anyhow::bail!("no app {app_key}");
    }
    let state = if disabled { "disabled" } else { "enabled" };
    outln!("app_key: {app_key} {state}")?;
    Ok(())
}

/// The JWT key of a new app from the command-line options.
fn jwt_key(
    alg: Option<JwtAlg>,
    public_key_pem: Option<String>,
    have_secrets_key: bool,
) -> anyhow::Result<Option<JwtKey>> {
    match (alg, public_key_pem) {
        (None, None) => Ok(have_secrets_key.then_some(JwtKey::Hs256)),
        (Some(JwtAlg::Hs256), None) => Ok(Some(JwtKey::Hs256)),
        (Some(JwtAlg::Es256), Some(public_key_pem)) => Ok(Some(JwtKey::Es256 { public_key_pem })),
        (Some(JwtAlg::Es256), None) => {
            anyhow::bail!("--jwt-alg es256 needs --jwt-public-key <pem file>")
        }
        (None | Some(JwtAlg::Hs256), Some(_)) => {
            anyhow::bail!("--jwt-public-key is only used with --jwt-alg es256")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_options() {
        assert_eq!(jwt_key(None, None, true).ok(), Some(Some(JwtKey::Hs256)));
        assert_eq!(jwt_key(None, None, false).ok(), Some(None));
        // Asking for HS256 without a key is refused later, by provisioning, with the reason.
        assert_eq!(
            jwt_key(Some(JwtAlg::Hs256), None, false).ok(),
            Some(Some(JwtKey::Hs256))
        );
        assert_eq!(
            jwt_key(Some(JwtAlg::Es256), Some("pem".into()), false).ok(),
            Some(Some(JwtKey::Es256 {
                public_key_pem: "pem".into()
            }))
        );
        assert!(jwt_key(Some(JwtAlg::Es256), None, true).is_err());
        assert!(jwt_key(Some(JwtAlg::Hs256), Some("pem".into()), true).is_err());
        assert!(jwt_key(None, Some("pem".into()), true).is_err());
    }
}

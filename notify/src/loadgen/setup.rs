//! What a load run needs before the first request: its own tenant and app, a category, and
//! users that each have a phone, an email address, an APNs token, an FCM token and a web push
//! subscription minted by the web push simulator, so every channel has somewhere to go.
//!
//! Users and devices are written straight to the directory (the admin API accepts only https
//! push endpoints, and the simulator serves plain HTTP on loopback); the tenant and app go
//! through the same provisioning code as `notify tenants create` and `notify apps create`.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use notify_common::Config;
use notify_ingest::auth::provision;
use notify_schemas::Channel;
use notify_store::directory::{Category, Directory, PushTarget, User, WebPushSubscription};
use notify_store::tenants::{CassandraTenants, Scopes};
use notify_store::CassandraDirectory;
use serde_json::Value;

/// The category every load notification uses.
pub const CATEGORY: &str = "load";

/// Where each channel's recipients of one user are, as [`notify_schemas::Recipient::key`]
/// writes them (the input of the delivery id).
#[derive(Debug, Clone)]
pub struct LoadUser {
    pub id: String,
    pub keys: [String; 5],
    /// The web push subscription's `p256dh` and `auth` keys (its endpoint is in `keys`).
    pub webpush_keys: (String, String),
}

impl LoadUser {
    /// The recipient key of `channel`.
    pub fn key(&self, channel: Channel) -> &str {
        &self.keys[index(channel)]
    }
}

/// Position of `channel` in [`Channel::ALL`].
pub fn index(channel: Channel) -> usize {
    Channel::ALL
        .iter()
        .position(|c| *c == channel)
        .unwrap_or_default()
}

/// The tenant a run sends as.
#[derive(Debug, Clone)]
pub struct LoadTenant {
    pub tenant_id: String,
    pub app_key: String,
    pub app_secret: String,
    pub users: Vec<LoadUser>,
}

/// The simulators' control URLs by name, as `notify sim` writes them to `simulators.json`.
pub type Simulators = BTreeMap<String, String>;

/// An HTTP client for the API and the simulators: it trusts the simulators' own CA
/// (`sim-ca.pem` beside `simulators.json`), which the APNs simulator's certificate comes from.
pub fn client(simulators: &std::path::Path) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .pool_max_idle_per_host(512);
    let ca = simulators.with_file_name("sim-ca.pem");
    if ca.exists() {
        let pem = std::fs::read(&ca).with_context(|| format!("cannot read {}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("{} is not a PEM certificate", ca.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder.build()?)
}

/// Reads `simulators.json`.
pub fn read_simulators(path: &std::path::Path) -> anyhow::Result<Simulators> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {} (written by `notify sim --dir <dir>`)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a JSON object", path.display()))
}

/// Creates the tenant, its app, the category and `users` users with every kind of recipient.
pub async fn provision(
    config: &Config,
    simulators: &Simulators,
    users: usize,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<LoadTenant> {
    let session = Arc::new(notify_store::connect(&config.store).await?);
    let tenants = CassandraTenants::new(session.clone(), &config.store.keyspace).await?;
    let tenant = provision::create_tenant(&tenants, "loadgen").await?;
    let scopes: Scopes = "send,status".parse()?;
    let app = provision::create_app(&tenants, &tenant.tenant_id, None, scopes, None).await?;
    let directory = CassandraDirectory::new(session, &config.store.keyspace).await?;
    let tenant_id = tenant.tenant_id.clone();
    let category = Category {
        category_id: CATEGORY.into(),
        description: Some("load runs".into()),
        critical: false,
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    directory.put_category(&tenant_id, &category).await?;

    let webpush = simulators
        .get("webpush")
        .context("simulators.json names no webpush simulator")?;
    let client = reqwest::Client::new();
    let mut made = Vec::with_capacity(users);
    for i in 0..users {
        made.push(user(&directory, &client, webpush, &tenant_id, i).await?);
        progress(i + 1);
    }
    Ok(LoadTenant {
        tenant_id,
        app_key: app.app_key,
        app_secret: app.secret.expose().to_owned(),
        users: made,
    })
}

async fn user(
    directory: &CassandraDirectory,
    client: &reqwest::Client,
    webpush: &str,
    tenant: &str,
    i: usize,
) -> anyhow::Result<LoadUser> {
    let id = format!("load-{i}");
    let mut record = User::new(&id);
    let phone = format!("+1555{i:07}");
    let email = format!("load{i}@example.com");
    record.phone = Some(phone.clone());
    record.email = Some(email.clone());
    directory.put_user(tenant, &record).await?;

    let apns = format!("{:0>64x}", i as u128 * 7919 + 1);
    let fcm = format!("fcm-load-{i}:{}", "x".repeat(140));
    let subscription: Value = client
        .post(format!("{webpush}/_sim/webpush/subscriptions"))
        .send()
        .await
        .context("the web push simulator does not answer")?
        .error_for_status()?
        .json()
        .await?;
    let field = |name: &str| {
        subscription[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("web push subscription without {name}"))
    };
    let endpoint = field("endpoint")?;
    let webpush_keys = (field("p256dh")?, field("auth")?);
    let targets = [
        PushTarget::Apns {
            token: apns.clone(),
        },
        PushTarget::Fcm { token: fcm.clone() },
        PushTarget::WebPush {
            subscription: WebPushSubscription {
                endpoint: endpoint.clone(),
                p256dh: webpush_keys.0.clone(),
                auth: webpush_keys.1.clone(),
            },
        },
    ];
    for target in &targets {
        directory.put_device(tenant, &id, target, None).await?;
    }
    Ok(LoadUser {
        id,
        keys: [apns, fcm, endpoint, phone, email],
        webpush_keys,
    })
}

//! Tenant webhooks in the embedded mode: the sender (`notify webhooks`) runs in the process
//! over an in-memory store shared with the gateway's admin routes, posting to loopback
//! endpoints too (the demo's receivers run on this machine), with a secrets key generated for
//! the run unless the configuration names one.

use std::path::Path;
use std::sync::Arc;

use notify_common::sealed::SecretsKey;
use notify_common::{Config, Health, Shutdown};
use notify_schemas::registry::StageSchemas;
use notify_store::webhooks::MemoryWebhooks;
use notify_webhooks::sender::HttpPoster;
use rand::RngCore;

use crate::{stage_err, EmbeddedError};

/// Lets endpoints be loopback ones and, unless one is configured, writes a fresh secrets key
/// to `dir` for the gateway and the sender to share.
pub(crate) fn prepare(config: &mut Config, dir: &Path) -> Result<(), EmbeddedError> {
    config.webhooks.allow_insecure_loopback = true;
    if config.ingest.secrets_key_file.is_none() {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let file = dir.join("secrets.key");
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&file, hex::encode(key)))
            .map_err(|e| stage_err("webhooks")(&e))?;
        config.ingest.secrets_key_file = Some(file);
    }
    Ok(())
}

/// Starts the sender over `store`.
pub(crate) fn start(
    config: &Config,
    shutdown: &Shutdown,
    health: &Health,
    store: Arc<MemoryWebhooks>,
) -> Result<(), EmbeddedError> {
    let poster = HttpPoster::new(&config.webhooks).map_err(|e| stage_err("webhooks")(&e))?;
    let secrets = SecretsKey::load(&config.ingest).map_err(|e| stage_err("webhooks")(&e))?;
    let (config, shutdown_, health) = (config.clone(), shutdown.clone(), health.clone());
    shutdown.spawn("webhooks", async move {
        notify_webhooks::stage::run_with(
            &config,
            store,
            Arc::new(poster),
            secrets,
            // the embedded mode writes single-object records and has no registry
            StageSchemas::default(),
            shutdown_,
            health,
        )
        .await
    });
    Ok(())
}

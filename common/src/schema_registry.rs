//! A stage's codecs from the `[schema_registry]` section: which topics it writes with Confluent
//! framing and the registry it reads Confluent-framed records through.
//!
//! Guarantees: without a registry the codecs are the plain single-object ones. With one, a
//! stage starts only once every schema it writes Confluent-framed is found registered under
//! its topics' subjects; while the registry cannot answer it waits (logging each try) up to
//! `startup_wait_ms`, then fails with the registry's error. A schema not registered fails at
//! once, naming the subject and the command that registers it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use notify_schemas::registry::{
    RegistryClient, RegistryLookup, RegistrySettings, SchemaSetupError, StageSchemas,
};
use notify_schemas::{Delivery, DeliveryStatus, NotificationRequest};

use crate::config::{FramedTopics, SchemaRegistryConfig};
use crate::topics::{Topics, CHANNELS, RETRY_TIERS};

/// The client `config` describes, or `None` without a registry.
pub fn client(config: &SchemaRegistryConfig) -> Result<Option<RegistryClient>, SchemaSetupError> {
    if !config.enabled() {
        return Ok(None);
    }
    let password = match &config.password {
        Some(secret) => Some(
            secret
                .read()
                .map_err(|err| SchemaSetupError::Credentials(err.to_string()))?,
        ),
        None => None,
    };
    let settings = RegistrySettings {
        url: config.url.trim().to_owned(),
        timeout: Duration::from_millis(config.timeout_ms),
        retries: config.retries,
        basic_auth: config.username.clone().zip(password),
    };
    Ok(Some(RegistryClient::new(&settings)?))
}

/// Every topic of a kind, as subjects are registered for it.
pub fn topics_of(kind: FramedTopics, topics: &Topics) -> Vec<String> {
    match kind {
        FramedTopics::Requests => vec![topics.requests()],
        FramedTopics::Status => vec![topics.status()],
        FramedTopics::Deliveries => CHANNELS
            .iter()
            .flat_map(|ch| [topics.deliveries(ch), topics.deliveries_bulk(ch)])
            .chain(RETRY_TIERS.iter().map(|(tier, _)| topics.retry(tier)))
            .collect(),
    }
}

/// The codecs of a stage that writes the kinds `writes` (those of them the configuration
/// frames Confluent-style).
pub async fn stage_schemas(
    config: &SchemaRegistryConfig,
    topics: &Topics,
    writes: &[FramedTopics],
) -> Result<StageSchemas, SchemaSetupError> {
    let Some(client) = client(config)? else {
        return Ok(StageSchemas::default());
    };
    let lookup = Arc::new(RegistryLookup::new(client));
    let deadline = Instant::now() + Duration::from_millis(config.startup_wait_ms);
    let mut tries = 0u32;
    loop {
        tries += 1;
        match framed(
            StageSchemas::with_registry(Arc::clone(&lookup)),
            config,
            topics,
            writes,
        )
        .await
        {
            Ok(schemas) => return Ok(schemas),
            Err(SchemaSetupError::Registry(err))
                if err.is_transient() && Instant::now() < deadline =>
            {
                tracing::warn!(error = %err, tries, "schema registry not answering yet; waiting");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(err) => return Err(err),
        }
    }
}

async fn framed(
    mut schemas: StageSchemas,
    config: &SchemaRegistryConfig,
    topics: &Topics,
    writes: &[FramedTopics],
) -> Result<StageSchemas, SchemaSetupError> {
    for kind in writes.iter().filter(|kind| config.writes_confluent(**kind)) {
        let names = topics_of(*kind, topics);
        schemas = match kind {
            FramedTopics::Requests => {
                schemas
                    .write_confluent::<NotificationRequest>(&names)
                    .await?
            }
            FramedTopics::Deliveries => schemas.write_confluent::<Delivery>(&names).await?,
            FramedTopics::Status => schemas.write_confluent::<DeliveryStatus>(&names).await?,
        };
    }
    Ok(schemas)
}

//! Building the webhook stage from configuration and running it until shutdown: the consumer
//! loop and the sender's workers, over the store and one producer (for dead letters).

use std::sync::Arc;
use std::time::Duration;

use notify_common::clock::{Clock, SystemClock};
use notify_common::kafka;
use notify_common::publish::{KafkaPublisher, Publisher};
use notify_common::schema_registry;
use notify_common::sealed::{SecretsKey, SecretsKeyError};
use notify_common::topics::Topics;
use notify_common::{Config, Health, Shutdown};
use notify_schemas::registry::StageSchemas;
use notify_schemas::DeliveryStatus;
use notify_store::webhooks::{CassandraWebhooks, WebhookStore};

use crate::cache::EndpointCache;
use crate::consumer::{ConsumerParts, WebhookConsumer, WebhookError};
use crate::retry::Schedule;
use crate::sender::{HttpPoster, Poster, Sender, SenderParts};

/// Why the stage could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be reached or prepared.
    #[error(transparent)]
    Store(#[from] notify_store::StoreError),
    /// A Kafka client could not be created.
    #[error(transparent)]
    Kafka(#[from] kafka::KafkaSetupError),
    /// The schema registry could not be set up.
    #[error(transparent)]
    Schemas(#[from] notify_schemas::registry::SchemaSetupError),
    /// The Avro codec could not be built.
    #[error(transparent)]
    Codec(#[from] notify_schemas::CodecError),
    /// The secrets key could not be read.
    #[error(transparent)]
    SecretsKey(#[from] SecretsKeyError),
    /// The HTTP client could not be built.
    #[error("cannot build the webhook http client: {0}")]
    Client(#[source] reqwest::Error),
    /// The loop failed.
    #[error(transparent)]
    Run(#[from] WebhookError),
}

/// `notify webhooks`: connects to the database and Kafka and runs until shutdown.
pub async fn run(config: &Config, shutdown: Shutdown, health: Health) -> Result<(), StartError> {
    crate::metrics::describe();
    let session = Arc::new(notify_store::connect(&config.store).await?);
    let store = CassandraWebhooks::new(session, &config.store.keyspace).await?;
    let topics = Topics::new(&config.kafka.topic_prefix);
    let schemas = schema_registry::stage_schemas(&config.schema_registry, &topics, &[]).await?;
    let poster = HttpPoster::new(&config.webhooks).map_err(StartError::Client)?;
    let secrets = SecretsKey::load(&config.ingest)?;
    run_with(
        config,
        Arc::new(store),
        Arc::new(poster),
        secrets,
        schemas,
        shutdown,
        health,
    )
    .await
}

/// Runs the stage around `store` and `poster` (the database and HTTPS ones from [`run`],
/// in-memory ones in the embedded mode), with Kafka clients from `config`.
pub async fn run_with(
    config: &Config,
    store: Arc<dyn WebhookStore>,
    poster: Arc<dyn Poster>,
    secrets: Option<SecretsKey>,
    schemas: StageSchemas,
    shutdown: Shutdown,
    health: Health,
) -> Result<(), StartError> {
    let hooks = &config.webhooks;
    if secrets.is_none() {
        tracing::warn!("ingest.secrets_key_file is not set: no webhook can be signed, every attempt fails until it is");
    }
    let topics = Topics::new(&config.kafka.topic_prefix);
    let status_topic = topics.status();
    let consumer =
        kafka::lag_consumer(&config.kafka, "webhooks", &hooks.group_id, &[&status_topic])?;
    let publisher: Arc<dyn Publisher> = Arc::new(KafkaPublisher::for_stage(
        &config.kafka,
        "webhooks",
        Duration::from_secs(5),
    )?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sender = Sender::new(
        SenderParts {
            store: Arc::clone(&store),
            poster,
            publisher,
            secrets,
            schedule: Schedule::of(hooks),
            page_size: hooks.page_size,
            max_in_flight: hooks.max_in_flight,
            clock: Arc::clone(&clock),
            status_topic: status_topic.clone(),
            dlq_topic: topics.dlq(),
        },
        shutdown.clone(),
    );
    let parts = ConsumerParts {
        codec: schemas.codec::<DeliveryStatus>()?,
        cache: EndpointCache::new(
            Arc::clone(&store),
            Duration::from_millis(hooks.cache_ttl_ms),
        ),
        store,
        sender,
        clock,
        status_topic,
        config: hooks.clone(),
    };
    let stage = WebhookConsumer::new(consumer, parts, health);
    tracing::info!(group = %hooks.group_id, "webhook sender consuming");
    let ran = stage.run(shutdown.token().clone()).await;
    shutdown.cancel();
    kafka::close_off_runtime(stage).await;
    ran?;
    tracing::info!("webhook sender stopped");
    Ok(())
}

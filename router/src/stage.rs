//! Building the router from configuration and running it until shutdown.

use std::sync::Arc;
use std::time::Duration;

use notify_common::kafka;
use notify_common::topics::Topics;
use notify_common::{Config, Shutdown};
use notify_store::tenants::CassandraTenants;
use notify_store::CassandraDirectory;

use crate::cache::DirectoryCache;
use crate::service::{RouterError, RouterStage};

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be reached or prepared.
    #[error(transparent)]
    Store(#[from] notify_store::StoreError),
    /// A Kafka client could not be created.
    #[error(transparent)]
    Kafka(#[from] kafka::KafkaSetupError),
    /// The Avro codecs could not be built.
    #[error(transparent)]
    Codec(#[from] notify_schemas::CodecError),
    /// The loop failed.
    #[error(transparent)]
    Run(#[from] RouterError),
}

/// Connects to the database and Kafka and assembles the stage.
pub async fn build(config: &Config) -> Result<RouterStage, StartError> {
    let session = Arc::new(notify_store::connect(&config.store).await?);
    let keyspace = &config.store.keyspace;
    let directory = CassandraDirectory::new(session.clone(), keyspace)
        .await?
        .with_max_in_flight(config.store.max_in_flight);
    let tenants = CassandraTenants::new(session, keyspace).await?;
    let router = &config.router;
    let cache = DirectoryCache::new(
        Arc::new(directory),
        Duration::from_millis(router.cache_ttl_ms),
        router.cache_capacity,
    );
    let topics = Topics::new(&config.kafka.topic_prefix);
    let consumer = kafka::consumer(
        &config.kafka,
        "router",
        &router.group_id,
        &[&topics.requests()],
    )?;
    let producer = kafka::producer(&config.kafka, "router")?;
    Ok(RouterStage::new(
        consumer,
        producer,
        topics,
        cache,
        Arc::new(tenants),
        router.clone(),
    )?)
}

/// `notify router`: routes until shutdown.
pub async fn run(config: &Config, shutdown: Shutdown) -> Result<(), StartError> {
    let stage = build(config).await?;
    tracing::info!(group = %config.router.group_id, "router consuming");
    stage.run(shutdown.token().clone()).await?;
    tracing::info!("router stopped");
    Ok(())
}

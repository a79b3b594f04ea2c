//! Building a channel's dispatcher and the retry movers from configuration, and running them
//! until shutdown (`notify dispatch --channel <ch>`).

use std::sync::Arc;
use std::time::Duration;

use notify_common::config::{Config, FramedTopics};
use notify_common::kafka::{self, KafkaSetupError};
use notify_common::schema_registry;
use notify_common::topics::{Topics, RETRY_TIERS};
use notify_common::{Health, Shutdown};
use notify_schemas::registry::StageSchemas;
use notify_schemas::Channel;
use notify_store::suppressions::{CassandraSuppressions, SuppressionList};
use notify_store::{CassandraDirectory, Directory};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::Consumer;

use crate::consumer::drain::DrainContext;
use crate::consumer::{DispatchError, Dispatcher, DrainConsumer, Lane};
use crate::engine::inflight::Inflight;
use crate::engine::TierMover;
use crate::handler::{Deps, Handler};
use crate::providers::email::ListUnsubscribe;
use crate::providers::provider::Provider;
use crate::providers::registry::{self, RegistryError};
use notify_common::publish::KafkaPublisher;
use notify_store::notification_log::{CassandraLog, CoalescedLog, DeliveryLog};

/// Why the dispatcher could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The channel's provider is not configured or refused its configuration.
    #[error(transparent)]
    Provider(#[from] RegistryError),
    /// The database could not be reached or prepared.
    #[error(transparent)]
    Store(#[from] notify_store::StoreError),
    /// A Kafka client could not be created.
    #[error(transparent)]
    Kafka(#[from] KafkaSetupError),
    /// The schema registry could not be set up.
    #[error(transparent)]
    Schemas(#[from] notify_schemas::registry::SchemaSetupError),
    /// The Avro codecs could not be built.
    #[error(transparent)]
    Codec(#[from] notify_schemas::CodecError),
    /// The loop failed.
    #[error(transparent)]
    Run(#[from] DispatchError),
    /// The `[links]` keys cannot be read or are too short.
    #[error(transparent)]
    Links(#[from] notify_common::links::LinkError),
}

/// A channel's dispatcher and one retry mover per tier.
#[derive(Debug)]
pub struct Parts {
    /// Consumes `notify.deliveries.<ch>` and `.bulk`.
    pub dispatcher: Dispatcher,
    /// Move due retries back to their channel, one per tier.
    pub movers: Vec<TierMover>,
}

/// The consumer group of `channel`'s dispatchers on the main lane; the bulk lane's is this with
/// `-bulk` appended.
pub fn group_id(config: &Config, channel: Channel) -> String {
    format!("{}-{}", config.dispatch.group_id_prefix, channel.as_str())
}

/// A consumer in `group` over `topics` whose revocations drain `inflight` first. Partitions
/// are assigned cooperatively (`cooperative-sticky`) unless `kafka.client_properties` says
/// otherwise, so a rebalance revokes only the partitions that move.
pub fn drain_consumer(
    config: &Config,
    group: &str,
    topics: &[&str],
    inflight: Arc<Inflight>,
    label: &'static str,
) -> Result<DrainConsumer, KafkaSetupError> {
    let mut client = kafka::consumer_config(&config.kafka, "dispatch", group);
    if !config
        .kafka
        .client_properties
        .contains_key("partition.assignment.strategy")
    {
        client.set("partition.assignment.strategy", "cooperative-sticky");
    }
    let context = DrainContext::new(
        inflight,
        Duration::from_millis(config.dispatch.drain_deadline_ms),
        label,
        group,
        &client,
    );
    let setup = |source| KafkaSetupError::Client {
        role: "consumer",
        source,
    };
    let consumer = DrainConsumer::from_config_and_context(&client, context).map_err(setup)?;
    consumer.context().rebootstrap().attach(consumer.client());
    consumer.subscribe(topics).map_err(setup)?;
    Ok(consumer)
}

/// Connects to the database and Kafka and assembles `channel`'s dispatcher around `provider`
/// (from [`registry::build_provider`], or a fake in tests), plus the retry movers.
pub async fn build(
    config: &Config,
    channel: Channel,
    provider: Arc<dyn Provider>,
    health: Health,
) -> Result<Parts, StartError> {
    let session = Arc::new(notify_store::connect(&config.store).await?);
    let keyspace = &config.store.keyspace;
    let log = CassandraLog::new(session.clone(), keyspace).await?;
    let suppressions = CassandraSuppressions::new(session.clone(), keyspace).await?;
    let directory = CassandraDirectory::new(session, keyspace)
        .await?
        .with_max_in_flight(config.store.max_in_flight);
    let log: Arc<dyn DeliveryLog> = match config.store.log_requests_in_flight {
        0 => Arc::new(log),
        // the reads and writes of deliveries in flight together go out as one request each
        in_flight => Arc::new(CoalescedLog::new(Arc::new(log), in_flight)),
    };
    let stores = Stores {
        log,
        directory: Arc::new(directory),
        suppressions: Arc::new(suppressions),
    };
    let schemas = schema_registry::stage_schemas(
        &config.schema_registry,
        &Topics::new(&config.kafka.topic_prefix),
        &[FramedTopics::Deliveries, FramedTopics::Status],
    )
    .await?;
    build_with(config, channel, provider, health, stores, schemas)
}

/// The tables a dispatcher reads and writes.
#[derive(Debug, Clone)]
pub struct Stores {
    /// The notification log (the dedup record).
    pub log: Arc<dyn DeliveryLog>,
    /// Where invalid devices are disabled.
    pub directory: Arc<dyn Directory>,
    /// Where addresses a mail server refused for good are listed.
    pub suppressions: Arc<dyn SuppressionList>,
}

/// Assembles `channel`'s dispatcher and the retry movers around `stores` (the database ones
/// from [`build`], in-memory ones in the embedded mode), with Kafka clients from `config` and
/// codecs from `schemas` (no registry: `StageSchemas::default()`).
pub fn build_with(
    config: &Config,
    channel: Channel,
    provider: Arc<dyn Provider>,
    health: Health,
    stores: Stores,
    schemas: StageSchemas,
) -> Result<Parts, StartError> {
    let provider = crate::tracking::wrap(provider, &config.links)?;
    let topics = Topics::new(&config.kafka.topic_prefix);
    let publisher = Arc::new(KafkaPublisher::for_stage(
        &config.kafka,
        "dispatch",
        Duration::from_millis(config.kafka.message_timeout_ms),
    )?);
    let deps = Deps {
        provider,
        log: stores.log,
        directory: stores.directory,
        suppressions: stores.suppressions,
        publisher: publisher.clone(),
    };
    let handler = Handler::new(channel, deps, topics.clone(), &config.dispatch)?
        .with_schemas(schemas.clone())?
        .with_health(health.clone());

    // one consumer per lane, so a fetched bulk backlog never queues ahead of the main lane
    let lane = |topic: String, group: String| -> Result<Lane, KafkaSetupError> {
        let inflight = Arc::new(Inflight::new());
        let consumer = drain_consumer(
            config,
            &group,
            &[&topic],
            inflight.clone(),
            channel.as_str(),
        )?;
        Ok(Lane::new(consumer, inflight, config.dispatch.max_pending))
    };
    let main = lane(
        topics.deliveries(channel.as_str()),
        group_id(config, channel),
    )?;
    let bulk = lane(
        topics.deliveries_bulk(channel.as_str()),
        format!("{}-bulk", group_id(config, channel)),
    )?;
    let dispatcher = Dispatcher::new(main, bulk, handler, config.dispatch.clone());

    let mut movers = Vec::new();
    for (tier, _) in RETRY_TIERS {
        let inflight = Arc::new(Inflight::new());
        let group = format!("{}-{tier}", config.dispatch.retry_group_id_prefix);
        let consumer = drain_consumer(
            config,
            &group,
            &[&topics.retry(tier)],
            inflight.clone(),
            "retry",
        )?;
        movers.push(
            TierMover::new(
                tier,
                consumer,
                inflight,
                publisher.clone(),
                topics.clone(),
                &config.dispatch,
            )?
            .with_schemas(schemas.clone())?
            .with_health(health.clone()),
        );
    }
    Ok(Parts { dispatcher, movers })
}

/// `notify dispatch --channel <ch>`: dispatches and moves retries until shutdown; any loop
/// failing stops all. `health` is what the admin endpoint's `/readyz` reports.
pub async fn run(
    config: &Config,
    channel: Channel,
    shutdown: Shutdown,
    health: Health,
) -> Result<(), StartError> {
    let list_unsubscribe = ListUnsubscribe::from_config(&config.links)?;
    let provider =
        registry::build_provider_with(channel, &config.dispatch.providers, list_unsubscribe)?;
    crate::metrics::register(
        channel.as_str(),
        &notify_common::topics::Topics::new(&config.kafka.topic_prefix),
    );
    let Parts { dispatcher, movers } = build(config, channel, provider, health).await?;
    tracing::info!(
        channel = channel.as_str(),
        group = %group_id(config, channel),
        "dispatcher consuming"
    );
    for mover in movers {
        shutdown.spawn("retry-mover", mover.run(shutdown.token().clone()));
    }
    let dispatched = dispatcher.run(shutdown.token().clone()).await;
    shutdown.cancel();
    dispatched?;
    tracing::info!(channel = channel.as_str(), "dispatcher stopped");
    Ok(())
}

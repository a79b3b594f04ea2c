//! Building the router from configuration and running it until shutdown: the consumer loop
//! (with its handler) and the scheduler that re-emits deferred requests when they are due.
//! Both publish through one producer; nothing here decides how a record is routed.

use notify_common::preference_links::PreferenceLinks;
use std::sync::Arc;
use std::time::Duration;

use notify_common::clock::SystemClock;
use notify_common::config::FramedTopics;
use notify_common::kafka;
use notify_common::publish::KafkaPublisher;
use notify_common::schema_registry;
use notify_common::topics::Topics;
use notify_common::{Config, Health, Shutdown};
use notify_schemas::registry::StageSchemas;
use notify_store::notification_log::CassandraLog;
use notify_store::ratelog::CassandraRateLog;
use notify_store::schedule::CassandraSchedule;
use notify_store::settings::CassandraSettings;
use notify_store::suppressions::CassandraSuppressions;
use notify_store::tenants::CassandraTenants;
use notify_store::{CassandraDirectory, Directory};

use crate::cache::DirectoryCache;
use crate::consumer::{RouterConsumer, RouterError};
use crate::handler::{Handler, PolicyStores};
use crate::scheduler::Scheduler;

/// Why the router could not start.
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
    /// The Avro codecs could not be built.
    #[error(transparent)]
    Codec(#[from] notify_schemas::CodecError),
    /// The loop failed.
    #[error(transparent)]
    Run(#[from] RouterError),
    /// The `[links]` keys cannot be read or are too short.
    #[error(transparent)]
    Links(#[from] notify_common::links::LinkError),
}

/// The router's two loops.
#[derive(Debug)]
pub struct Parts {
    /// Routes `notify.requests`.
    pub router: RouterConsumer,
    /// Re-emits deferred requests to `notify.requests` when due.
    pub scheduler: Scheduler,
}

/// Connects to the database and Kafka and assembles the stage.
pub async fn build(config: &Config) -> Result<Parts, StartError> {
    let session = Arc::new(notify_store::connect(&config.store).await?);
    let keyspace = &config.store.keyspace;
    let directory = CassandraDirectory::new(session.clone(), keyspace)
        .await?
        .with_max_in_flight(config.store.max_in_flight);
    let tenants = CassandraTenants::new(session.clone(), keyspace).await?;
    let settings = CassandraSettings::new(session.clone(), keyspace).await?;
    let rate_log = CassandraRateLog::new(session.clone(), keyspace).await?;
    let schedule = Arc::new(CassandraSchedule::new(session.clone(), keyspace).await?);
    let outcomes = CassandraLog::new(session.clone(), keyspace).await?;
    let suppressions = CassandraSuppressions::new(session, keyspace).await?;
    let stores = PolicyStores {
        tenants: Arc::new(tenants),
        settings: Arc::new(settings),
        rate_log: Arc::new(rate_log),
        schedule,
        outcomes: Arc::new(outcomes),
        suppressions: Arc::new(suppressions),
    };
    let topics = Topics::new(&config.kafka.topic_prefix);
    let schemas = schema_registry::stage_schemas(
        &config.schema_registry,
        &topics,
        &[FramedTopics::Deliveries, FramedTopics::Status],
    )
    .await?;
    build_with(config, Arc::new(directory), stores, schemas)
}

/// Assembles the stage around `directory` and `stores` (the database ones from [`build`],
/// in-memory ones in the embedded mode), with Kafka clients from `config` and codecs from
/// `schemas` (no registry: `StageSchemas::default()`).
pub fn build_with(
    config: &Config,
    directory: Arc<dyn Directory>,
    stores: PolicyStores,
    schemas: StageSchemas,
) -> Result<Parts, StartError> {
    let router = &config.router;
    let cache = DirectoryCache::new(
        directory,
        Duration::from_millis(router.cache_ttl_ms),
        router.cache_capacity,
    );
    let topics = Topics::new(&config.kafka.topic_prefix);
    let consumer = kafka::lag_consumer(
        &config.kafka,
        "router",
        &router.group_id,
        &[&topics.requests()],
    )?;

    // one owner name per process, so a crashed instance's claims are told apart
    let owner = format!("router-{}", uuid_like());
    let produce_timeout = Duration::from_millis(config.kafka.message_timeout_ms);
    // one producer for the routing loop and the scheduler; a full producer queue is waited out
    // this long before the batch (or the scheduled row) is tried again
    let publisher = Arc::new(KafkaPublisher::for_stage(
        &config.kafka,
        "router",
        Duration::from_secs(5),
    )?);
    let mut scheduler = Scheduler::new(
        stores.schedule.clone(),
        publisher.clone(),
        topics.requests(),
        owner,
    );
    scheduler.produce_timeout = produce_timeout;
    scheduler.lease = scheduler.lease.max(scheduler.produce_timeout * 3);
    let handler = Handler::new(cache, stores, topics, router.clone(), Arc::new(SystemClock))?
        .with_schemas(schemas)?
        .with_links(PreferenceLinks::from_config(&config.links)?);
    let stage = RouterConsumer::new(consumer, publisher, handler, router.clone());
    Ok(Parts {
        router: stage,
        scheduler,
    })
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{}", nanos, std::process::id())
}

/// `notify router`: routes and schedules until shutdown; either loop failing stops both.
/// `health` is what the admin endpoint's `/readyz` reports: the loop marks the database and
/// Kafka failing while it pauses on them.
pub async fn run(config: &Config, shutdown: Shutdown, health: Health) -> Result<(), StartError> {
    crate::metrics::register(&Topics::new(&config.kafka.topic_prefix));
    let parts = build(config).await?;
    run_parts(parts, config, shutdown, health).await
}

/// Runs built [`Parts`] until shutdown, as [`run`] does.
pub async fn run_parts(
    parts: Parts,
    config: &Config,
    shutdown: Shutdown,
    health: Health,
) -> Result<(), StartError> {
    let Parts { router, scheduler } = parts;
    let router = router.with_health(health);
    if !has_dotted_domain(&config.router.email_from) {
        tracing::warn!(
            email_from = %config.router.email_from,
            "router.email_from has no public domain: email providers refuse such a sender, so set it"
        );
    }
    tracing::info!(group = %config.router.group_id, "router consuming");
    shutdown.spawn("scheduler", scheduler.run(shutdown.token().clone()));
    let routed = router.run(shutdown.token().clone()).await;
    shutdown.cancel();
    // leaving the group waits on the coordinator: not on an async worker
    notify_common::kafka::close_off_runtime(router).await;
    routed?;
    tracing::info!("router stopped");
    Ok(())
}

/// Whether `address` ends in a domain with a dot (`notify@example.com`, not `notify@localhost`).
fn has_dotted_domain(address: &str) -> bool {
    address.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.ends_with('.')
    })
}

#[cfg(test)]
mod sender_tests {
    use super::has_dotted_domain;

    #[test]
    fn a_sender_needs_a_dotted_domain() {
        assert!(has_dotted_domain("notify@example.com"));
        assert!(!has_dotted_domain("notify@localhost"));
        assert!(!has_dotted_domain("notify@example."));
        assert!(!has_dotted_domain("@example.com"));
        assert!(!has_dotted_domain("example.com"));
    }
}

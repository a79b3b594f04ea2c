//! Building the gateway from configuration and serving it until shutdown.
//!
//! Shutdown order (on SIGTERM or a failed task): stop accepting connections, let in-flight
//! requests finish (each still waits for its delivery report, so nothing acknowledged is lost
//! and nothing answered 202 is missing from Kafka), flush the producer, return.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use notify_common::config::FramedTopics;
use notify_common::kafka;
use notify_common::schema_registry;
use notify_common::topics::Topics;
use notify_common::{Config, Shutdown};
use notify_schemas::registry::StageSchemas;
use notify_store::directory::{CassandraDirectory, Directory};
use notify_store::settings::SettingsStore;
use notify_store::tenants::{AppStore, CassandraTenants};
use notify_store::webhooks::{CassandraWebhooks, WebhookStore};
use tokio::net::TcpListener;

use crate::auth::{load_secrets_key, Authenticator};
use crate::preferences::Preferences;
use crate::ratelimit::TenantLimiter;
use crate::readiness::ReadyCache;
use crate::receipts::{
    seen_signatures, Receipts, SendGridReceipts, SmtpReceipts, TwilioReceipts, VonageReceipts,
};
use crate::routes::admin::webhooks::WebhookAdmin;
use crate::server::{serve_http, ConnectionLimits};
use crate::state::AppState;
use crate::validate::Limits;
use notify_common::clock::SystemClock;
use notify_common::preference_links::PreferenceLinks;
use notify_common::publish::{KafkaPublisher, Publisher};
use notify_store::idempotency::{CassandraLedger, Ledger};
use notify_store::notification_log::{CassandraLog, DeliveryLog};
use notify_store::settings::CassandraSettings;
use notify_store::suppressions::{CassandraSuppressions, SuppressionList};

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be reached or prepared.
    #[error(transparent)]
    Store(#[from] notify_store::StoreError),
    /// The Kafka producer could not be created.
    #[error(transparent)]
    Kafka(#[from] kafka::KafkaSetupError),
    /// The Avro codec could not be built.
    #[error(transparent)]
    Codec(#[from] notify_schemas::CodecError),
    /// The schema registry could not be set up.
    #[error("schema registry: {0}")]
    SchemaRegistry(String),
    /// The provider receipt settings are wrong.
    #[error("receipts: {0}")]
    Receipts(String),
    /// The `[links]` keys cannot be read or are too short.
    #[error(transparent)]
    Links(#[from] notify_common::links::LinkError),
    /// A configured secret file could not be read.
    #[error("secrets key: {0}")]
    Secrets(String),
    /// The listen address could not be bound, or serving failed.
    #[error("http server on {addr}: {source}")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The stores behind the gateway: the database ones from [`build_state`], in-memory ones in
/// the embedded mode.
#[derive(Clone)]
pub struct Stores {
    /// Idempotency claims and the notification log.
    pub ledger: Arc<dyn Ledger>,
    /// Users, devices, preferences, templates, categories.
    pub directory: Arc<dyn Directory>,
    /// Tenants and apps, for authentication.
    pub tenants: Arc<dyn AppStore>,
    /// The notification log, which provider receipts update.
    pub log: Arc<dyn DeliveryLog>,
    /// The suppression list, which hard bounces, complaints and opt-outs add to.
    pub suppressions: Arc<dyn SuppressionList>,
    /// Tenants' webhook endpoints.
    pub webhooks: Arc<dyn WebhookStore>,
    /// Tenant settings, for the preference page's language (the configured default without).
    pub settings: Option<Arc<dyn SettingsStore>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("ledger", &self.ledger)
            .field("directory", &self.directory)
            .finish_non_exhaustive()
    }
}

/// Connects to the database and Kafka and assembles the handlers' state.
pub async fn build_state(config: &Config) -> Result<AppState, ServeError> {
    let session = Arc::new(notify_store::connect(&config.store).await?);
    let keyspace = &config.store.keyspace;
    let ledger = CassandraLedger::new(session.clone(), keyspace).await?;
    let directory = CassandraDirectory::new(session.clone(), keyspace)
        .await?
        .with_max_in_flight(config.store.max_in_flight);
    let tenants = CassandraTenants::new(session.clone(), keyspace).await?;
    let log = CassandraLog::new(session.clone(), keyspace).await?;
    let suppressions = CassandraSuppressions::new(session.clone(), keyspace).await?;
    let webhooks = CassandraWebhooks::new(session.clone(), keyspace).await?;
    // the tenant's default locale picks the preference page's language, as it picks a template's
    let settings = CassandraSettings::new(session.clone(), keyspace).await?;
    let stores = Stores {
        webhooks: Arc::new(webhooks),
        ledger: Arc::new(ledger),
        directory: Arc::new(directory),
        tenants: Arc::new(tenants),
        log: Arc::new(log),
        suppressions: Arc::new(suppressions),
        settings: Some(Arc::new(settings)),
    };
    let schemas = schema_registry::stage_schemas(
        &config.schema_registry,
        &Topics::new(&config.kafka.topic_prefix),
        &[FramedTopics::Requests, FramedTopics::Status],
    )
    .await
    .map_err(|err| ServeError::SchemaRegistry(err.to_string()))?;
    build_state_with(config, stores, &schemas)
}

/// Assembles the handlers' state around `stores`, with a Kafka producer from `config`; requests
/// and receipts are written as `schemas` says (Confluent-framed when the configuration asks).
pub fn build_state_with(
    config: &Config,
    stores: Stores,
    schemas: &StageSchemas,
) -> Result<AppState, ServeError> {
    let ingest = &config.ingest;
    let secrets_key = match &ingest.secrets_key_file {
        Some(path) => {
            Some(load_secrets_key(path).map_err(|err| ServeError::Secrets(err.to_string()))?)
        }
        None => None,
    };
    let webhooks = WebhookAdmin::new(stores.webhooks, secrets_key.clone(), &config.webhooks);
    let auth = Authenticator::new(stores.tenants, ingest, secrets_key);

    // the delivery report must arrive within the produce timeout, or the request gets 503
    let mut kafka_config = config.kafka.clone();
    kafka_config.message_timeout_ms = ingest.produce_timeout_ms;
    let publisher = KafkaPublisher::for_stage(
        &kafka_config,
        "ingest",
        Duration::from_millis(ingest.produce_timeout_ms),
    )?;
    let topics = Topics::new(&config.kafka.topic_prefix);
    let providers = &config.dispatch.providers;
    let twilio = TwilioReceipts::from_providers(providers).map_err(ServeError::Receipts)?;
    let sendgrid = SendGridReceipts::from_providers(providers).map_err(ServeError::Receipts)?;
    let vonage = VonageReceipts::from_providers(providers).map_err(ServeError::Receipts)?;
    let smtp = SmtpReceipts::from_providers(providers).map_err(ServeError::Receipts)?;
    let tracking = crate::tracking::from_config(&config.links).map_err(ServeError::Receipts)?;
    let links = PreferenceLinks::from_config(&config.links)?;
    let preferences = links.map(|links| {
        let mut preferences =
            Preferences::new(links, &config.router.default_locale, Arc::new(SystemClock));
        preferences.settings = stores.settings.clone();
        Arc::new(preferences)
    });
    // tracked opens and clicks, and one-click unsubscribes, report their receipts through the
    // same path as providers'
    let links_on = tracking.is_some() || preferences.is_some();
    let receipts = match (twilio, sendgrid, vonage, smtp) {
        (None, None, None, None) if !links_on => None,
        (twilio, sendgrid, vonage, smtp) => Some(Arc::new(Receipts {
            twilio,
            sendgrid,
            vonage,
            smtp,
            seen: seen_signatures(),
            log: stores.log.clone(),
            suppressions: stores.suppressions.clone(),
            statuses: Arc::new(schemas.codec()?),
            status_topic: topics.status(),
            clock: Arc::new(SystemClock),
        })),
    };

    Ok(AppState {
        config: Arc::new(ingest.clone()),
        limits: Arc::new(Limits {
            email_max_bytes: config.router.email_max_bytes,
            ..Limits::from(ingest)
        }),
        publisher: Arc::new(publisher),
        requests_topic: topics.requests(),
        ledger: stores.ledger,
        directory: stores.directory,
        auth: Arc::new(auth),
        limiter: Arc::new(TenantLimiter::from_config(ingest)),
        readiness: Arc::new(ReadyCache::new(Duration::from_millis(
            ingest.ready_check_interval_ms,
        ))),
        codec: Arc::new(schemas.codec()?),
        receipts,
        suppressions: stores.suppressions,
        tracking,
        preferences,
        webhooks: Arc::new(webhooks),
    })
}

/// Serves `state` on `listener` until `shutdown` is cancelled, then drains and flushes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: Shutdown,
    grace: Duration,
) -> Result<(), ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Http {
        addr: ([0, 0, 0, 0], 0).into(),
        source,
    })?;
    tracing::info!(%addr, "ingest api listening");

    let limiter = state.limiter.clone();
    let token = shutdown.token().clone();
    shutdown.spawn("rate-limit-gc", async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => limiter.shrink(),
                () = token.cancelled() => return Ok::<(), String>(()),
            }
        }
    });

    let publisher: Arc<dyn Publisher> = state.publisher.clone();
    let limits = ConnectionLimits::from(state.config.as_ref());
    let app = crate::routes::router(state);
    serve_http(listener, app, limits, shutdown.token().clone()).await;
    tracing::info!("ingest api stopped accepting; flushing the producer");
    let flushed = tokio::task::spawn_blocking(move || publisher.flush(grace)).await;
    match flushed {
        Ok(Ok(())) => tracing::info!("producer flushed"),
        Ok(Err(err)) => tracing::error!(error = %err, "producer flush incomplete"),
        Err(err) => tracing::error!(error = %err, "producer flush task failed"),
    }
    Ok(())
}

/// `notify ingest`: builds the gateway from `config` and serves it until shutdown.
pub async fn run(config: &Config, shutdown: Shutdown) -> Result<(), ServeError> {
    crate::metrics::register();
    let state = build_state(config).await?;
    let addr = config.ingest.listen_addr;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Http { addr, source })?;
    serve(
        listener,
        state,
        shutdown,
        Duration::from_millis(config.shutdown.grace_period_ms),
    )
    .await
}

//! The router's consumer loop: the only part of the router that touches Kafka.
//!
//! Guarantees: records are routed in batches; every output of a batch (deliveries, statuses,
//! dead letters) is acknowledged by Kafka before any offset of the batch is stored, so a crash
//! or rebalance at any point re-routes records instead of losing them. A record that can never
//! be routed (undecodable, unknown tenant) goes to `notify.dlq` with its reason in headers and
//! the partition moves on. A database or Kafka outage pauses the loop with backoff; nothing is
//! skipped. Not guaranteed: that a record is routed only once. A re-routed record yields the
//! same deterministic delivery ids, which the dispatchers' dedup recognises; its statuses may
//! repeat on `notify.status`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::try_join_all;
use notify_common::config::RouterConfig;
use notify_common::kafka::{produce_all, ErrorPacer, OutRecord};
use notify_common::topics::Topics;
use notify_common::Health;
use notify_schemas::{Channel, Codec, Delivery, DeliveryStatus, NotificationRequest};
use notify_store::policy::SettingsStore;
use notify_store::policy::{OverLimit, TenantSettings};
use notify_store::ratelog::RateLog;
use notify_store::schedule::{Schedule, ScheduledItem};
use notify_store::tenants::AppStore;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use tokio_util::sync::CancellationToken;

use crate::cache::{CacheError, DirectoryCache};
use crate::fanout;
use crate::metrics as m;
use crate::plan::{self, Context};
use crate::ratelimit::RateLimiter;
use crate::render::Renderer;

pub use notify_common::dead_letter::{
    DLQ_ERROR, DLQ_OFFSET, DLQ_PARTITION, DLQ_REASON, DLQ_STAGE, DLQ_TOPIC,
};

/// Why a batch could not be routed now; the batch is retried, never skipped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RouteError {
    /// A directory or tenant read failed.
    #[error(transparent)]
    Directory(#[from] CacheError),
    /// The tenant store failed.
    #[error("tenant lookup failed: {0}")]
    Tenants(String),
    /// A deferred request could not be written to the schedule.
    #[error("schedule write failed: {0}")]
    Schedule(String),
    /// An output was not acknowledged by Kafka.
    #[error("produce failed: {0}")]
    Produce(String),
    /// The rate-limit record could not be read or written.
    #[error("rate limit store failed: {0}")]
    RateLimits(String),
    /// An output could not be encoded (a bug, not bad input).
    #[error("encode failed: {0}")]
    Encode(String),
}

impl RouteError {
    /// The dependency at fault, as named in `/readyz`.
    pub fn dependency(&self) -> &'static str {
        match self {
            RouteError::Directory(_)
            | RouteError::Tenants(_)
            | RouteError::Schedule(_)
            | RouteError::RateLimits(_) => "database",
            RouteError::Produce(_) => "kafka",
            RouteError::Encode(_) => "router",
        }
    }
}

/// Why the loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The consumer failed in a way retrying cannot fix.
    #[error("kafka consumer: {0}")]
    Consumer(#[from] rdkafka::error::KafkaError),
}

/// One record to produce.
#[derive(Debug, Clone)]
pub struct Output {
    /// Destination topic.
    pub topic: String,
    /// Record key.
    pub key: String,
    /// Record value.
    pub payload: Vec<u8>,
    /// Record headers.
    pub headers: Vec<(&'static str, String)>,
}

/// The database-backed stores the router's policy reads and writes.
#[derive(Clone)]
pub struct PolicyStores {
    /// Which tenants exist.
    pub tenants: Arc<dyn AppStore>,
    /// Per-tenant settings (bypass, default locale, rate limits).
    pub settings: Arc<dyn SettingsStore>,
    /// Sends counted against rate limits.
    pub rate_log: Arc<dyn RateLog>,
    /// Deferred requests.
    pub schedule: Arc<dyn Schedule>,
}

impl std::fmt::Debug for PolicyStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStores").finish_non_exhaustive()
    }
}

/// The parts the loop is built from.
pub struct RouterStage {
    consumer: StreamConsumer,
    producer: FutureProducer,
    topics: Topics,
    cache: DirectoryCache,
    tenants: Arc<dyn AppStore>,
    settings: Arc<dyn SettingsStore>,
    schedule: Arc<dyn Schedule>,
    limiter: RateLimiter,
    /// Known tenants with their settings; `None` for a tenant that does not exist.
    known_tenants: moka::future::Cache<String, Option<Arc<TenantSettings>>>,
    renderer: Renderer,
    requests: Codec<NotificationRequest>,
    deliveries: Codec<Delivery>,
    statuses: Codec<DeliveryStatus>,
    config: RouterConfig,
    health: Health,
    errors: ErrorPacer,
}

impl std::fmt::Debug for RouterStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterStage")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl RouterStage {
    /// Assembles the stage. `consumer` must already be subscribed to the requests topic.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        consumer: StreamConsumer,
        producer: FutureProducer,
        topics: Topics,
        cache: DirectoryCache,
        stores: PolicyStores,
        config: RouterConfig,
    ) -> Result<Self, notify_schemas::CodecError> {
        let ttl = Duration::from_millis(config.cache_ttl_ms);
        Ok(Self {
            consumer,
            producer,
            topics,
            cache,
            tenants: stores.tenants,
            settings: stores.settings,
            schedule: stores.schedule,
            limiter: RateLimiter::new(stores.rate_log),
            known_tenants: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            renderer: Renderer::new(),
            requests: Codec::new()?,
            deliveries: Codec::new()?,
            statuses: Codec::new()?,
            config,
            health: Health::new(),
            errors: ErrorPacer::new(),
        })
    }

    /// Reports readiness into `health` (the admin endpoint's `/readyz`).
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// Routes until `cancel` fires. A batch in progress at that moment is abandoned without
    /// storing its offsets, so the next owner of its partitions routes it again.
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), RouterError> {
        let max_backoff = Duration::from_millis(self.config.max_backoff_ms);
        while !cancel.is_cancelled() {
            let batch = self.next_batch(&cancel).await?;
            if batch.is_empty() {
                continue;
            }
            let mut backoff = Duration::from_millis(100);
            loop {
                let attempt = async {
                    let outputs = self.route_batch(&batch, now_ms()).await?;
                    self.produce(&outputs).await
                };
                match attempt.await {
                    Ok(()) => {
                        self.health.ok("database");
                        self.health.ok("kafka");
                        break;
                    }
                    Err(err) => {
                        self.health.failing(err.dependency(), err.to_string());
                        metrics::counter!(m::RETRIES_TOTAL).increment(1);
                        tracing::warn!(error = %err, records = batch.len(), backoff_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX), "routing paused, will retry the batch");
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            () = cancel.cancelled() => return Ok(()),
                        }
                        backoff = (backoff * 2).min(max_backoff);
                    }
                }
            }
            for message in &batch {
                // a partition taken away meanwhile refuses the store; its new owner re-routes
                if let Err(err) = self.consumer.store_offset(
                    message.topic(),
                    message.partition(),
                    message.offset(),
                ) {
                    tracing::debug!(error = %err, partition = message.partition(), "offset not stored");
                }
            }
            metrics::counter!(m::REQUESTS_TOTAL).increment(batch.len() as u64);
        }
        Ok(())
    }

    async fn next_batch(
        &self,
        cancel: &CancellationToken,
    ) -> Result<Vec<OwnedMessage>, RouterError> {
        let mut batch = Vec::new();
        let first = tokio::select! {
            received = self.consumer.recv() => received,
            () = cancel.cancelled() => return Ok(batch),
        };
        match first {
            Ok(message) => {
                self.errors.ok();
                batch.push(message.detach());
            }
            Err(err) => {
                // broker-side errors (brokers down, a topic not yet known, a partition moving)
                // pass; the consumer keeps its position, so nothing is skipped
                let (log, pause) = self.errors.error();
                if log {
                    tracing::warn!(error = %err, "consume error");
                }
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                return Ok(batch);
            }
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.config.batch_wait_ms);
        while batch.len() < self.config.batch_max {
            match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Ok(Ok(message)) => batch.push(message.detach()),
                Ok(Err(err)) => {
                    if self.errors.error().0 {
                        tracing::warn!(error = %err, "consume error");
                    }
                    break;
                }
                Err(_) => break,
            }
        }
        Ok(batch)
    }

    /// Everything the batch produces, in record order. Records are routed concurrently (their
    /// directory reads overlap) but their outputs are kept in record order, so one user's
    /// records are produced in the order they were consumed.
    pub async fn route_batch(
        &self,
        batch: &[OwnedMessage],
        now_ms: i64,
    ) -> Result<Vec<Output>, RouteError> {
        // at most `router.batch_max` futures; the directory bounds its own requests in flight
        let routed = try_join_all(batch.iter().map(|message| self.route(message, now_ms))).await?;
        Ok(routed.into_iter().flatten().collect())
    }

    fn dead_letter(&self, message: &OwnedMessage, error: &str, reason: &str) -> Output {
        metrics::counter!(m::DEAD_LETTERED_TOTAL, "error" => error.to_owned()).increment(1);
        tracing::warn!(
            error,
            reason,
            partition = message.partition(),
            offset = message.offset(),
            "record dead-lettered"
        );
        Output {
            topic: self.topics.dlq(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default(),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers: vec![
                (DLQ_STAGE, "router".to_owned()),
                (DLQ_ERROR, error.to_owned()),
                (DLQ_REASON, reason.to_owned()),
                (DLQ_TOPIC, message.topic().to_owned()),
                (DLQ_PARTITION, message.partition().to_string()),
                (DLQ_OFFSET, message.offset().to_string()),
            ],
        }
    }

    /// The tenant's settings (defaults when it has none stored); `None` for an unknown tenant.
    async fn tenant_settings(
        &self,
        tenant: &str,
    ) -> Result<Option<Arc<TenantSettings>>, RouteError> {
        let tenants = self.tenants.clone();
        let settings = self.settings.clone();
        let id = tenant.to_owned();
        self.known_tenants
            .try_get_with(id.clone(), async move {
                if tenants.tenant_by_id(&id).await?.is_none() {
                    return Ok::<_, notify_store::StoreError>(None);
                }
                let stored = settings.settings(&id).await?.unwrap_or_default();
                Ok(Some(Arc::new(stored)))
            })
            .await
            .map_err(|err| RouteError::Tenants(err.to_string()))
    }

    fn status_output(&self, status: &DeliveryStatus) -> Result<Output, RouteError> {
        Ok(Output {
            topic: self.topics.status(),
            key: status.event_id.to_string(),
            payload: self
                .statuses
                .encode(status)
                .map_err(|e| RouteError::Encode(e.to_string()))?,
            headers: Vec::new(),
        })
    }

    /// The outputs of one record.
    async fn route(&self, message: &OwnedMessage, now_ms: i64) -> Result<Vec<Output>, RouteError> {
        let Some(payload) = message.payload() else {
            return Ok(vec![self.dead_letter(
                message,
                "empty",
                "record has no value",
            )]);
        };
        let request = match self.requests.decode(payload) {
            Ok(request) => request,
            Err(err) if err.is_permanent() => {
                return Ok(vec![self.dead_letter(
                    message,
                    err.kind(),
                    &err.to_string(),
                )])
            }
            Err(err) => return Err(RouteError::Tenants(err.to_string())),
        };
        let Some(settings) = self.tenant_settings(&request.tenant).await? else {
            return Ok(vec![self.dead_letter(
                message,
                "unknown_tenant",
                &format!("tenant {} does not exist", request.tenant),
            )]);
        };
        let default_locale = settings
            .default_locale
            .as_deref()
            .unwrap_or(&self.config.default_locale);
        let view = self.cache.user(&request.tenant, &request.user_id).await?;
        let category = self
            .cache
            .category(&request.tenant, &request.category)
            .await?;
        let templates = match &request.template {
            Some(template) => Some(
                self.cache
                    .template(&request.tenant, &template.template_id)
                    .await?,
            ),
            None => None,
        };

        // a record the scheduler re-emitted is due: plan it no earlier than its due time (our
        // clock may lag the scheduler's), and do not hold it again for quiet hours that began
        // anew meanwhile, or it could wait forever
        let deferred_until = message
            .headers()
            .and_then(crate::scheduler::deferred_until_ms);
        let context = Context {
            request: &request,
            user: view.user.as_ref(),
            devices: &view.devices,
            preferences: &view.preferences,
            category: category.as_deref(),
            tenant_allows_critical_bypass: settings
                .allow_critical_bypass
                .unwrap_or(self.config.critical_bypass),
            now_ms: deferred_until.map_or(now_ms, |due| due.max(now_ms)),
        };
        let mut decided = plan::plan(&context);
        if deferred_until.is_some() && decided.defer_until.is_some() {
            let without_quiet_hours = view.user.clone().map(|user| notify_store::directory::User {
                quiet_hours: None,
                ..user
            });
            decided = plan::plan(&Context {
                user: without_quiet_hours.as_ref(),
                ..context
            });
        }
        if let Some(defer) = &decided.defer_until {
            let item = ScheduledItem {
                tenant: request.tenant.clone(),
                event_id: request.event_id.to_string(),
                routing_key: format!("{}:{}", request.tenant, request.user_id),
                due_at_ms: defer.until_ms,
                reason: defer.reason.as_str().to_owned(),
                payload: payload.to_vec(),
            };
            self.schedule
                .defer(&item)
                .await
                .map_err(|e| RouteError::Schedule(e.to_string()))?;
            metrics::counter!(m::DEFERRED_TOTAL, "reason" => defer.reason.as_str()).increment(1);
        }
        let mut outputs = Vec::new();
        if !decided.expired && decided.defer_until.is_none() {
            outputs.extend(
                self.apply_rate_limits(&request, &settings, &mut decided, now_ms)
                    .await?,
            );
        }
        for status in fanout::plan_statuses(&request, &decided, now_ms) {
            outputs.push(self.status_output(&status)?);
        }
        if decided.expired || decided.defer_until.is_some() {
            return Ok(outputs);
        }

        let user_locale = view.user.as_ref().and_then(|u| u.locale.as_deref());
        let mut channels: Vec<Channel> = decided.targets.iter().map(|t| t.channel).collect();
        channels.dedup();
        for channel in channels {
            let targets: Vec<_> = decided
                .targets
                .iter()
                .filter(|t| t.channel == channel)
                .cloned()
                .collect();
            let rendered = self.renderer.render(
                channel,
                templates.as_deref().map_or(&[][..], Vec::as_slice),
                &request,
                user_locale,
                default_locale,
                &self.config.email_from,
            );
            match rendered {
                Ok(content) => {
                    for delivery in fanout::deliveries(&request, &targets, &content, now_ms) {
                        let topic = match fanout::topic_lane(request.priority) {
                            fanout::Lane::Bulk => self.topics.deliveries_bulk(channel.as_str()),
                            fanout::Lane::Priority => self.topics.deliveries(channel.as_str()),
                        };
                        outputs.push(Output {
                            topic,
                            key: format!("{}:{}", request.tenant, request.user_id),
                            payload: self
                                .deliveries
                                .encode(&delivery)
                                .map_err(|e| RouteError::Encode(e.to_string()))?,
                            headers: Vec::new(),
                        });
                        metrics::counter!(m::DELIVERIES_TOTAL, "channel" => channel.as_str())
                            .increment(1);
                    }
                }
                Err(err) => {
                    metrics::counter!(m::SUPPRESSED_TOTAL, "reason" => "render_failed")
                        .increment(1);
                    for status in
                        fanout::render_failed(&request, &targets, &err.to_string(), now_ms)
                    {
                        outputs.push(self.status_output(&status)?);
                    }
                }
            }
        }
        Ok(outputs)
    }

    /// Takes the channels over a rate limit out of `decided`: suppressed (their targets get
    /// `rate_limited`) or, when the tenant defers, held in the schedule as a copy of the
    /// request naming only those channels, due when the window has room. Returns the outputs
    /// this adds beyond the plan's own statuses.
    async fn apply_rate_limits(
        &self,
        request: &NotificationRequest,
        settings: &TenantSettings,
        decided: &mut plan::Plan,
        now_ms: i64,
    ) -> Result<Vec<Output>, RouteError> {
        let mut channels: Vec<Channel> = decided.targets.iter().map(|t| t.channel).collect();
        channels.dedup();
        let limited = self
            .limiter
            .admit(
                settings,
                &request.tenant,
                &request.user_id,
                &request.event_id.to_string(),
                request.priority,
                &channels,
                now_ms,
            )
            .await
            .map_err(|e| RouteError::RateLimits(e.to_string()))?;
        if limited.channels.is_empty() {
            return Ok(Vec::new());
        }
        let (over, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut decided.targets)
            .into_iter()
            .partition(|t| limited.channels.contains(&t.channel));
        decided.targets = kept;
        let mut outputs = Vec::new();
        match settings.over_limit {
            OverLimit::Suppress => {
                metrics::counter!(m::SUPPRESSED_TOTAL, "reason" => "rate_limited")
                    .increment(over.len() as u64);
                decided
                    .suppressed
                    .extend(over.into_iter().map(|t| plan::Suppressed {
                        channel: Some(t.channel),
                        recipient: Some(t.recipient),
                        reason: plan::Reason::RateLimited,
                    }));
            }
            OverLimit::Defer => {
                let held = NotificationRequest {
                    channels: limited.channels.clone(),
                    ..request.clone()
                };
                let payload = self
                    .requests
                    .encode(&held)
                    .map_err(|e| RouteError::Encode(e.to_string()))?;
                let item = ScheduledItem {
                    tenant: request.tenant.clone(),
                    event_id: request.event_id.to_string(),
                    routing_key: format!("{}:{}", request.tenant, request.user_id),
                    due_at_ms: limited.free_at_ms,
                    reason: plan::Reason::RateLimited.as_str().to_owned(),
                    payload,
                };
                self.schedule
                    .defer(&item)
                    .await
                    .map_err(|e| RouteError::Schedule(e.to_string()))?;
                metrics::counter!(m::DEFERRED_TOTAL, "reason" => "rate_limited").increment(1);
                for channel in &limited.channels {
                    let status = fanout::scheduled_channel_status(
                        request,
                        *channel,
                        plan::Reason::RateLimited.as_str(),
                        now_ms,
                    );
                    outputs.push(self.status_output(&status)?);
                }
            }
        }
        Ok(outputs)
    }

    /// Produces every output and waits until all are acknowledged.
    pub async fn produce(&self, outputs: &[Output]) -> Result<(), RouteError> {
        let records = outputs.iter().map(|output| OutRecord {
            topic: &output.topic,
            key: output.key.as_bytes(),
            payload: &output.payload,
            headers: &output.headers,
        });
        produce_all(&self.producer, records, Duration::from_secs(5))
            .await
            .map_err(|err| RouteError::Produce(err.to_string()))
    }
}

/// The value of header `name` of `message`, if present and UTF-8.
pub fn header_value<'a>(message: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

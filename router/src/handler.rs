//! The routing decision for one record: a request in, the records to publish out (deliveries,
//! statuses, dead letters), with no Kafka in sight.
//!
//! Guarantees: a record that can never be routed (no value, undecodable, unknown tenant) comes
//! back as one dead letter naming the reason, never as an error; an [`RouteError`] means a
//! dependency failed and the same record must be handled again later (it yields the same
//! deliveries, with the same ids). A request deferred (send time, quiet hours, rate limit) is
//! written to the schedule before its records are returned, so a publish that follows can never
//! announce a deferral that was not stored. Time comes from the injected [`Clock`], read once per
//! batch. What the router decides without a delivery (suppressed, scheduled, expired, render
//! failed) is recorded in the notification log before its statuses are returned ([`outcomes`]),
//! so status look-ups can read it. Not guaranteed: that the schedule, rate log and outcomes are
//! written only once per record (a retried batch writes them again; all tolerate it).

mod outcomes;
mod outputs;

use crate::preference_url::with_preferences_url;
use notify_common::preference_links::PreferenceLinks;
use std::sync::Arc;

use futures::future::try_join_all;
use notify_common::clock::Clock;
use notify_common::config::RouterConfig;
use notify_common::log_pacer::LogPacer;
use notify_common::metrics::REQUESTED_AT_HEADER;
use notify_common::publish::Record;
use notify_common::topics::Topics;
use notify_common::trace;
use notify_schemas::limits::ContentLimits;
use notify_schemas::registry::StageSchemas;
use notify_schemas::{Channel, Codec, CodecError, Delivery, DeliveryStatus, NotificationRequest};
use notify_store::notification_log::DeliveryLog;
use notify_store::ratelog::RateLog;
use notify_store::schedule::{Schedule, ScheduledItem};
use notify_store::settings::SettingsStore;
use notify_store::suppressions::SuppressionList;
use notify_store::tenants::AppStore;
use tracing::Instrument;

use crate::cache::{CacheError, DirectoryCache};
use crate::fanout;
use crate::plan::{self, Context, Reason};
use crate::ratelimit::RateLimiter;
use crate::render::Renderer;
use crate::scheduler::after_earlier_row;
use crate::settings::{SettingsCache, SettingsError};
use crate::suppress::{SuppressError, SuppressionCache};
use crate::tally::Tally;

/// Most log lines a second about dead-lettered records; the rest are counted in the next line.
const REFUSAL_LOG_LINES_PER_S: u32 = 10;

/// Why a record could not be routed now; it is retried, never skipped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RouteError {
    /// A directory read failed.
    #[error(transparent)]
    Directory(#[from] CacheError),
    /// The suppression list could not be read.
    #[error(transparent)]
    Suppressions(#[from] SuppressError),
    /// The tenant or settings store failed.
    #[error(transparent)]
    Tenants(#[from] SettingsError),
    /// The schema of the record could not be looked up.
    #[error("schema lookup failed: {0}")]
    SchemaLookup(String),
    /// A deferred request could not be written to the schedule.
    #[error("schedule write failed: {0}")]
    Schedule(String),
    /// The rate-limit record could not be read or written.
    #[error("rate limit store failed: {0}")]
    RateLimits(String),
    /// An outcome could not be recorded in the notification log.
    #[error("outcome write failed: {0}")]
    Outcomes(String),
    /// An output could not be encoded (a bug, not bad input).
    #[error("encode failed: {0}")]
    Encode(String),
}

impl RouteError {
    /// The dependency at fault, as named in `/readyz`.
    pub fn dependency(&self) -> &'static str {
        match self {
            RouteError::SchemaLookup(_) => "schema_registry",
            RouteError::Directory(_)
            | RouteError::Suppressions(_)
            | RouteError::Tenants(_)
            | RouteError::Schedule(_)
            | RouteError::RateLimits(_)
            | RouteError::Outcomes(_) => "database",
            RouteError::Encode(_) => "router",
        }
    }
}

/// The database-backed stores the routing decision reads and writes.
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
    /// The notification log, where the outcomes decided without a delivery are recorded.
    pub outcomes: Arc<dyn DeliveryLog>,
    /// Addresses no message may go to (bounced, complained, stopped).
    pub suppressions: Arc<dyn SuppressionList>,
}

impl std::fmt::Debug for PolicyStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStores").finish_non_exhaustive()
    }
}

/// One consumed record, as the decision needs it: where it came from (named in dead letters)
/// and what it carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Incoming {
    /// Topic it was read from.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, if any.
    pub key: Option<Vec<u8>>,
    /// Its value, if any.
    pub payload: Option<Vec<u8>>,
    /// The due time of a record the scheduler re-emitted (its `notify-deferred-until` header).
    pub deferred_until_ms: Option<i64>,
    /// The W3C trace context of its headers (`traceparent`, `tracestate`), if any.
    pub trace: Option<(String, Option<String>)>,
}

/// Routes records: directory, settings, plan, rate limits, schedule, rendering.
pub struct Handler {
    cache: DirectoryCache,
    suppressions: SuppressionCache,
    settings: SettingsCache,
    limiter: RateLimiter,
    schedule: Arc<dyn Schedule>,
    outcomes: Arc<dyn DeliveryLog>,
    renderer: Renderer,
    requests: Codec<NotificationRequest>,
    deliveries: Codec<Delivery>,
    statuses: Codec<DeliveryStatus>,
    /// The registry the codecs read Confluent-framed requests through, if any.
    schemas: StageSchemas,
    topics: Topics,
    config: RouterConfig,
    clock: Arc<dyn Clock>,
    /// Paces the log lines of dead-lettered records (a flood of poison records).
    refusals: LogPacer,
    /// Signs `preferences_url` for templates, when `[links]` is configured.
    links: Option<PreferenceLinks>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Handler {
    /// A handler reading the directory through `cache` and policy from `stores`, publishing to
    /// `topics`, reading time from `clock`.
    pub fn new(
        cache: DirectoryCache,
        stores: PolicyStores,
        topics: Topics,
        config: RouterConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CodecError> {
        let ttl = std::time::Duration::from_millis(config.cache_ttl_ms);
        Ok(Self {
            cache,
            suppressions: SuppressionCache::new(stores.suppressions, ttl, config.cache_capacity),
            settings: SettingsCache::new(stores.tenants, stores.settings, ttl),
            limiter: RateLimiter::new(stores.rate_log),
            schedule: stores.schedule,
            outcomes: stores.outcomes,
            renderer: Renderer::with_limits(ContentLimits {
                sms_max_segments: config.sms_max_segments,
                email_max_bytes: config.email_max_bytes,
            }),
            requests: Codec::new()?,
            deliveries: Codec::new()?,
            statuses: Codec::new()?,
            schemas: StageSchemas::default(),
            topics,
            config,
            clock,
            refusals: LogPacer::new(REFUSAL_LOG_LINES_PER_S),
            links: None,
        })
    }

    /// Offers templates the `preferences_url` variable signed with `links`.
    pub fn with_links(mut self, links: Option<PreferenceLinks>) -> Self {
        self.links = links;
        self
    }

    /// Reads Confluent-framed requests through `schemas`' registry and writes deliveries and
    /// statuses in the framing it sets.
    pub fn with_schemas(mut self, schemas: StageSchemas) -> Result<Self, CodecError> {
        self.requests = schemas.codec()?;
        self.deliveries = schemas.codec()?;
        self.statuses = schemas.codec()?;
        self.schemas = schemas;
        Ok(self)
    }

    /// What each record of the batch produces, in record order. Records are routed
    /// concurrently (their directory reads overlap) but their outputs are kept in record order,
    /// so one user's records are produced in the order they were consumed.
    pub async fn handle_batch(&self, batch: &[Incoming]) -> Result<Vec<Routed>, RouteError> {
        let now_ms = self.clock.now_ms();
        // at most `router.batch_max` futures; the directory bounds its own requests in flight
        try_join_all(batch.iter().map(|record| {
            let span = tracing::info_span!(
                "router.route",
                event_id = tracing::field::Empty,
                deliveries = tracing::field::Empty,
            );
            self.route(record, now_ms).instrument(span)
        }))
        .await
    }

    /// The records one incoming record produces.
    pub async fn handle(&self, record: &Incoming) -> Result<Vec<Record>, RouteError> {
        Ok(self.route(record, self.clock.now_ms()).await?.records)
    }

    async fn defer(&self, item: &ScheduledItem) -> Result<(), RouteError> {
        self.schedule
            .defer(item)
            .await
            .map_err(|e| RouteError::Schedule(e.to_string()))
    }

    async fn route(&self, record: &Incoming, now_ms: i64) -> Result<Routed, RouteError> {
        let Some(payload) = record.payload.as_deref() else {
            return Ok(self.refused(record, "empty", "record has no value"));
        };
        // a registry that cannot answer delays the record; it never makes it a dead letter
        self.schemas
            .prefetch(payload)
            .await
            .map_err(|err| RouteError::SchemaLookup(err.to_string()))?;
        let request = match self.requests.decode(payload) {
            Ok(request) => request,
            Err(err) if err.is_permanent() => {
                return Ok(self.refused(record, err.kind(), &err.to_string()))
            }
            Err(err) => return Err(RouteError::SchemaLookup(err.to_string())),
        };
        let Some(settings) = self.settings.get(&request.tenant).await? else {
            return Ok(self.refused(
                record,
                "unknown_tenant",
                &format!("tenant {} does not exist", request.tenant),
            ));
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
        let suppressions = self
            .suppressions
            .for_user(&request.tenant, view.user.as_ref(), &request.channels)
            .await?;

        let context = Context {
            request: &request,
            user: view.user.as_ref(),
            devices: &view.devices,
            preferences: &view.preferences,
            category: category.as_deref(),
            suppressions: &suppressions,
            tenant_allows_critical_bypass: settings
                .allow_critical_bypass
                .unwrap_or(self.config.critical_bypass),
            now_ms,
        };
        let mut decided = plan::plan_due(&context, record.deferred_until_ms);
        let mut tally = Tally::default();
        let routing_key = format!("{}:{}", request.tenant, request.user_id);
        if let Some(defer) = &decided.defer_until {
            self.defer(&ScheduledItem {
                tenant: request.tenant.clone(),
                event_id: request.event_id.to_string(),
                routing_key: routing_key.clone(),
                due_at_ms: after_earlier_row(defer.until_ms, record.deferred_until_ms),
                reason: defer.reason.as_str().to_owned(),
                payload: payload.to_vec(),
            })
            .await?;
            tally.deferred.push(defer.reason.as_str());
        }
        let mut outputs = Vec::new();
        let mut recorded = Vec::new();
        if !decided.expired && decided.defer_until.is_none() {
            let held = self
                .limiter
                .limit(
                    &settings,
                    &request,
                    category.as_deref().is_some_and(|c| c.critical),
                    &mut decided,
                    now_ms,
                )
                .await
                .map_err(|e| RouteError::RateLimits(e.to_string()))?;
            if let Some(held) = held {
                let (records, outcomes) = self.hold(&held, record, &routing_key, now_ms).await?;
                tally.deferred.push(Reason::RateLimited.as_str());
                outputs.extend(records);
                recorded.extend(outcomes);
            }
        }
        for item in fanout::plan_decided(&request, &decided, now_ms) {
            outputs.push(self.status_record(&item.status)?);
            recorded.push(item.outcome);
        }
        if decided.expired || decided.defer_until.is_some() {
            self.record_outcomes(&request, record, &recorded).await?;
            tally.decided(&recorded);
            return Ok(Routed {
                records: outputs,
                tally,
            });
        }

        let trace_headers = follow_trace(record, &request);
        // a deferred request is measured from when it came due, not from when it was made
        let requested_at = record.deferred_until_ms.unwrap_or(request.created_at);
        let user_locale = view.user.as_ref().and_then(|u| u.locale.as_deref());
        let with_url = self
            .links
            .as_ref()
            .and_then(|links| with_preferences_url(&request, links, now_ms));
        let templated = with_url.as_ref().unwrap_or(&request);
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
                templated,
                user_locale,
                default_locale,
                &self.config.email_from,
            );
            match rendered {
                Ok(content) => {
                    let topic = match fanout::topic_lane(request.priority) {
                        fanout::Lane::Bulk => self.topics.deliveries_bulk(channel.as_str()),
                        fanout::Lane::Priority => self.topics.deliveries(channel.as_str()),
                    };
                    for delivery in fanout::deliveries(&request, &targets, &content, now_ms) {
                        let payload = self
                            .deliveries
                            .encode(&delivery)
                            .map_err(|e| RouteError::Encode(e.to_string()))?;
                        let mut out = Record::new(topic.clone(), routing_key.clone(), payload)
                            .header(REQUESTED_AT_HEADER, requested_at.to_string());
                        for (name, value) in &trace_headers {
                            out = out.header(name, value.clone());
                        }
                        outputs.push(out);
                        tally.deliveries.push(channel);
                        tally.routed.push((channel, requested_at, now_ms));
                    }
                }
                Err(err) => {
                    let failed = fanout::render_failed(&request, &targets, &err, now_ms);
                    // one status per target, in target order
                    for (status, target) in failed.iter().zip(&targets) {
                        outputs.push(self.status_record(status)?);
                        recorded.push(fanout::outcome(status, Some(&target.recipient)));
                    }
                }
            }
        }
        self.record_outcomes(&request, record, &recorded).await?;
        tally.decided(&recorded);
        tracing::Span::current().record("deliveries", tally.deliveries.len());
        Ok(Routed {
            records: outputs,
            tally,
        })
    }
}

/// Names the request on the current span, makes it the child of the trace the record's
/// headers carry (else the one the request's body carries), and returns the trace headers its
/// deliveries must carry.
fn follow_trace(record: &Incoming, request: &NotificationRequest) -> Vec<(&'static str, String)> {
    let span = tracing::Span::current();
    span.record("event_id", tracing::field::display(request.event_id));
    let incoming = trace::incoming(record.trace.as_ref(), request.trace.as_ref());
    trace::follow(&span, incoming.0, incoming.1);
    trace::outgoing(&span, incoming)
}

/// What one record produced: the records to publish and what to count once they are out.
#[derive(Debug, Clone, Default)]
pub struct Routed {
    /// Deliveries, statuses and dead letters, in publishing order.
    pub records: Vec<Record>,
    /// What they mean, for the counters.
    pub tally: Tally,
}

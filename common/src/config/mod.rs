//! The one typed configuration of the `notify` binary.
//!
//! Sources, later ones winning: built-in defaults, an optional TOML file, then environment
//! variables with the `NOTIFY_` prefix where `__` separates sections
//! (`NOTIFY_KAFKA__BROKERS=10.0.0.1:9092`). Unknown keys are an error, so a typo never turns
//! into a silently ignored setting. [`Config::validate`] checks relations between fields;
//! [`Config::load`] always calls it.
//!
//! Each section has its own file (`clusters.rs`: `[kafka]` and `[store]`; `ingest.rs`,
//! `router.rs`, `dispatch.rs`, `links.rs`, `webhooks.rs`; `registry.rs`: `[schema_registry]`; `process.rs`: `[telemetry]`
//! and `[shutdown]`); this one holds the
//! whole, its loading and the validation of relations across sections.

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

mod clusters;
mod dispatch;
mod ingest;
pub mod links;
mod process;
mod registry;
mod router;
pub mod secret;
mod webhooks;

pub use clusters::{KafkaConfig, StoreConfig, StoreTls, TopicPartitions};
pub use dispatch::{DispatchConfig, RetryConfig, DEFAULT_SESSION_TIMEOUT_MS};
pub use ingest::{IngestConfig, QuotaOverride, Quotas};
pub use links::LinksConfig;
pub use process::{LogFormat, ShutdownConfig, TelemetryConfig};
pub use registry::{FramedTopics, SchemaRegistryConfig};
pub use router::RouterConfig;
pub use secret::{SecretConfig, SecretReadError};
pub use webhooks::WebhooksConfig;

/// Prefix of every environment override.
pub const ENV_PREFIX: &str = "NOTIFY_";

/// `NOTIFY_<SECTION>__<KEY>` variables. Other `NOTIFY_*` variables (`NOTIFY_CONFIG`, the stack
/// script's settings) are not configuration keys and are left alone.
fn env_overrides() -> Env {
    Env::prefixed(ENV_PREFIX)
        .filter(|key| key.as_str().contains("__"))
        .split("__")
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or did not match the typed structure.
    #[error("invalid configuration: {0}")]
    Load(Box<figment::Error>),
    /// The values parsed but contradict each other or are out of range.
    #[error("invalid configuration: {field}: {reason}")]
    Invalid {
        /// Dotted path of the offending field.
        field: &'static str,
        /// What is wrong with it, in words an operator can act on.
        reason: String,
    },
}

/// Everything the binary can be told. Sections are shared by all stages; a stage reads only the
/// sections it needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Kafka cluster and topic layout.
    pub kafka: KafkaConfig,
    /// ScyllaDB / Cassandra cluster.
    pub store: StoreConfig,
    /// The HTTP ingest gateway and admin API (`notify ingest`).
    pub ingest: IngestConfig,
    /// The router stage (`notify router`).
    pub router: RouterConfig,
    /// The channel dispatchers and retry mover (`notify dispatch --channel <ch>`).
    pub dispatch: DispatchConfig,
    /// An optional schema registry (Confluent API).
    pub schema_registry: SchemaRegistryConfig,
    /// Logging and the metrics endpoint.
    pub telemetry: TelemetryConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
    /// Signed links back to the gateway: tracked clicks and opens, unsubscribe, preferences.
    pub links: LinksConfig,
    /// Tenants' webhook endpoints and the sender that posts status events to them.
    pub webhooks: WebhooksConfig,
}

impl Config {
    /// Loads defaults, then `file` if given, then `NOTIFY_*` environment variables, and
    /// validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid {
                    field: "--config",
                    reason: format!("file {} does not exist", path.display()),
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        let config: Config = figment
            .merge(env_overrides())
            .extract()
            .map_err(|err| ConfigError::Load(Box::new(err)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges and relations that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: reason.to_owned(),
            })
        };
        let k = &self.kafka;
        if k.brokers.trim().is_empty() {
            return invalid("kafka.brokers", "must name at least one broker");
        }
        if k.topic_prefix.is_empty()
            || !k
                .topic_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return invalid(
                "kafka.topic_prefix",
                "must be non-empty and use only [a-zA-Z0-9._-]",
            );
        }
        if k.replication_factor < 1 {
            return invalid("kafka.replication_factor", "must be at least 1");
        }
        let p = &k.partitions;
        if [p.requests, p.deliveries, p.retry, p.status, p.dlq]
            .iter()
            .any(|n| *n < 1)
        {
            return invalid(
                "kafka.partitions",
                "every partition count must be at least 1",
            );
        }
        if k.message_timeout_ms == 0 || k.request_timeout_ms == 0 || k.out_of_group_limit_ms == 0 {
            return invalid(
                "kafka",
                "message_timeout_ms, request_timeout_ms and out_of_group_limit_ms must be positive",
            );
        }
        let t = &self.telemetry;
        if !(0.0..=1.0).contains(&t.trace_sample_ratio) {
            return invalid("telemetry.trace_sample_ratio", "must be between 0 and 1");
        }
        if let Some(endpoint) = &t.otlp_endpoint {
            if !endpoint.starts_with("http://") {
                return invalid(
                    "telemetry.otlp_endpoint",
                    "must be an http:// URL of an OTLP/HTTP receiver (e.g. http://collector:4318)",
                );
            }
        }
        let s = &self.store;
        if s.nodes.is_empty() {
            return invalid("store.nodes", "must name at least one node");
        }
        if !is_cql_identifier(&s.keyspace) {
            return invalid(
                "store.keyspace",
                "must start with a letter and use only [a-z0-9_], at most 48 characters",
            );
        }
        if s.max_in_flight == 0 || s.request_timeout_ms == 0 {
            return invalid(
                "store",
                "max_in_flight and request_timeout_ms must be positive",
            );
        }
        let i = &self.ingest;
        if i.jwt_leeway_s > 60 {
            return invalid("ingest.jwt_leeway_s", "must be at most 60 seconds");
        }
        if i.auth_negative_cache_ttl_ms > 60_000 {
            return invalid(
                "ingest.auth_negative_cache_ttl_ms",
                "must be at most 60000 (a key created after a refusal must work soon)",
            );
        }
        if i.header_read_timeout_ms < 100 || i.max_connections == 0 {
            return invalid(
                "ingest",
                "header_read_timeout_ms must be at least 100 and max_connections at least 1",
            );
        }
        if i.idle_timeout_ms <= i.produce_timeout_ms.max(s.request_timeout_ms) {
            return invalid(
                "ingest.idle_timeout_ms",
                "must be above ingest.produce_timeout_ms and store.request_timeout_ms (a request \
                 waiting on Kafka or the database would be cut)",
            );
        }
        if !(100..=60_000).contains(&i.ready_check_interval_ms) {
            return invalid(
                "ingest.ready_check_interval_ms",
                "must be between 100 and 60000",
            );
        }
        if i.max_batch_items == 0 || i.max_batch_items > 1000 {
            return invalid("ingest.max_batch_items", "must be between 1 and 1000");
        }
        if i.max_body_bytes < 1024 || i.max_batch_body_bytes < i.max_body_bytes {
            return invalid(
                "ingest.max_body_bytes",
                "must be at least 1024 and not above ingest.max_batch_body_bytes",
            );
        }
        if !(i.max_body_bytes..=i.max_batch_body_bytes).contains(&i.max_template_body_bytes) {
            return invalid(
                "ingest.max_template_body_bytes",
                "must be between ingest.max_body_bytes and ingest.max_batch_body_bytes",
            );
        }
        if i.produce_timeout_ms == 0 || i.idempotency_window_s == 0 || i.sms_max_segments == 0 {
            return invalid(
                "ingest",
                "produce_timeout_ms, idempotency_window_s and sms_max_segments must be positive",
            );
        }
        let too_small = |q: &Quotas| {
            q.notifications_per_s > 0 && (q.notification_burst as usize) < i.max_batch_items
        };
        if too_small(&i.shared_quotas()) {
            return invalid(
                "ingest.tenant_notification_burst",
                "must be at least ingest.max_batch_items while ingest.tenant_notifications_per_s \
                 is on (a full batch could never pass)",
            );
        }
        if let Some((tenant, _)) = i.quota_overrides().find(|(_, q)| too_small(q)) {
            return invalid(
                "ingest.tenant_quotas",
                &format!(
                    "{tenant}: notification_burst must be at least ingest.max_batch_items while \
                     its notifications_per_s is on (a full batch could never pass)"
                ),
            );
        }
        let r = &self.router;
        if r.group_id.is_empty() || r.batch_max == 0 || r.cache_ttl_ms == 0 || r.max_backoff_ms == 0
        {
            return invalid(
                "router",
                "group_id must be set; batch_max, cache_ttl_ms and max_backoff_ms must be positive",
            );
        }
        if r.sms_max_segments < i.sms_max_segments {
            return invalid(
                "router.sms_max_segments",
                "must not be below ingest.sms_max_segments (the router would fail SMS ingest accepted)",
            );
        }
        if r.email_max_bytes < 1024 || r.email_max_bytes > EMAIL_MAX_BYTES_CEILING {
            return invalid(
                "router.email_max_bytes",
                "must be between 1024 and 921600 (a delivery must fit a Kafka record)",
            );
        }
        for (property, secret) in &self.kafka.secret_properties {
            if let Err(err) = secret.read() {
                return invalid("kafka.secret_properties", &format!("{property}: {err}"));
            }
        }
        self.store.validate_security()?;
        self.schema_registry.validate()?;
        self.dispatch.validate(self.kafka.group_timeout_ms())?;
        self.webhooks.validate()?;
        let l = &self.links;
        if let Some(base) = &l.public_base_url {
            let scheme_ok = base.starts_with("https://") || base.starts_with("http://");
            if !scheme_ok || base.ends_with('/') || base.contains(['?', '#', ' ']) {
                return invalid(
                    "links.public_base_url",
                    "must be an http(s) URL without a trailing slash, query or fragment",
                );
            }
            if l.keys.is_empty() {
                return invalid(
                    "links.keys",
                    "at least one signing key is needed while links.public_base_url is set",
                );
            }
        }
        if l.tracking_ttl_s == 0 || l.preferences_ttl_s == 0 {
            return invalid(
                "links",
                "tracking_ttl_s and preferences_ttl_s must be above 0",
            );
        }
        if self.shutdown.grace_period_ms == 0 {
            return invalid("shutdown.grace_period_ms", "must be positive");
        }
        Ok(())
    }
}

/// Largest `router.email_max_bytes`: a delivery record must stay below the producer's default
/// `message.max.bytes` (1,000,000) with room for its other fields.
pub const EMAIL_MAX_BYTES_CEILING: usize = 900 * 1024;

/// An unquoted CQL identifier that is safe to splice into DDL (keyspace and table names cannot
/// be bound as statement parameters).
pub fn is_cql_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 48
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests;

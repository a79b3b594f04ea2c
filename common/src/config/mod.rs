//! The one typed configuration of the `notify` binary.
//!
//! Sources, later ones winning: built-in defaults, an optional TOML file, then environment
//! variables with the `NOTIFY_` prefix where `__` separates sections
//! (`NOTIFY_KAFKA__BROKERS=10.0.0.1:9092`). Unknown keys are an error, so a typo never turns
//! into a silently ignored setting. [`Config::validate`] checks relations between fields;
//! [`Config::load`] always calls it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

mod dispatch;

pub use dispatch::{DispatchConfig, RetryConfig, DEFAULT_SESSION_TIMEOUT_MS};

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
    /// Logging and the metrics endpoint.
    pub telemetry: TelemetryConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
}

/// Kafka connection, client defaults and topic layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated bootstrap servers.
    pub brokers: String,
    /// `client.id` reported to the brokers; the stage name is appended.
    pub client_id: String,
    /// Prefix of every topic name (`<prefix>.requests`, `<prefix>.deliveries.apns`, ...).
    pub topic_prefix: String,
    /// Replication factor of topics created by `notify topics create`.
    pub replication_factor: i16,
    /// Partition counts of the topics `notify topics create` makes.
    pub partitions: TopicPartitions,
    /// How long the producer may try to deliver one record before reporting failure.
    pub message_timeout_ms: u64,
    /// Timeout of admin and metadata requests.
    pub request_timeout_ms: u64,
    /// Extra librdkafka properties applied to every client (e.g. `security.protocol`), after
    /// ours, so an operator can override any default.
    pub client_properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            client_id: "notify".into(),
            topic_prefix: "notify".into(),
            replication_factor: 1,
            partitions: TopicPartitions::default(),
            message_timeout_ms: 30_000,
            request_timeout_ms: 10_000,
            client_properties: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// The consumers' session timeout: `session.timeout.ms` from `client_properties` if set,
    /// else the pipeline's default.
    pub fn session_timeout_ms(&self) -> u64 {
        self.client_properties
            .get("session.timeout.ms")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_SESSION_TIMEOUT_MS)
    }
}

/// Partition counts per topic family. More partitions allow more consumers in a group; they
/// cannot be lowered later, and raising them moves keys between partitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicPartitions {
    /// `notify.requests`.
    pub requests: i32,
    /// Each `notify.deliveries.<channel>`.
    pub deliveries: i32,
    /// Each `notify.retry.<tier>`.
    pub retry: i32,
    /// `notify.status`.
    pub status: i32,
    /// `notify.dlq`.
    pub dlq: i32,
}

impl Default for TopicPartitions {
    fn default() -> Self {
        Self {
            requests: 12,
            deliveries: 12,
            retry: 6,
            status: 6,
            dlq: 3,
        }
    }
}

/// ScyllaDB / Cassandra cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Contact points, `host:port`.
    pub nodes: Vec<String>,
    /// Keyspace holding every table of the pipeline.
    pub keyspace: String,
    /// Replication of the keyspace when `notify migrate` creates it, as a CQL map literal.
    pub replication: String,
    /// Preferred datacenter for token-aware, DC-aware load balancing.
    pub local_datacenter: Option<String>,
    /// Client-side timeout of one request.
    pub request_timeout_ms: u64,
    /// Upper bound on requests one process keeps in flight against the cluster.
    pub max_in_flight: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            nodes: vec!["127.0.0.1:9042".into()],
            keyspace: "notify".into(),
            replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".into(),
            local_datacenter: None,
            request_timeout_ms: 5_000,
            max_in_flight: 256,
        }
    }
}

/// The HTTP ingest gateway and admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Address of the public API. Metrics are served on `telemetry.metrics_addr` instead.
    pub listen_addr: SocketAddr,
    /// Largest accepted body of a single-notification or admin request.
    pub max_body_bytes: usize,
    /// Largest accepted body of a batch request.
    pub max_batch_body_bytes: usize,
    /// Most notifications in one batch request.
    pub max_batch_items: usize,
    /// How long an `Idempotency-Key` maps to its first event id.
    pub idempotency_window_s: u64,
    /// How long a request may wait for Kafka's delivery report before it is answered 503.
    pub produce_timeout_ms: u64,
    /// Sustained requests per second one tenant may make; 0 disables the limit.
    pub tenant_rate_per_s: u32,
    /// Requests one tenant may burst above the sustained rate.
    pub tenant_burst: u32,
    /// How far ahead `send_at` may lie.
    pub max_schedule_ahead_s: u64,
    /// Most SMS segments one message may take (GSM-7: 153 characters per segment, UCS-2: 67).
    pub sms_max_segments: u32,
    /// How long a successful credential check is remembered, so auth is not the bottleneck.
    pub auth_cache_ttl_ms: u64,
    /// Clock skew allowed when checking `exp`, `nbf` and `iat` of bearer tokens (at most 60).
    pub jwt_leeway_s: u64,
    /// The `aud` claim bearer tokens must carry.
    pub jwt_audience: String,
    /// File holding the 32-byte key (64 hex characters) that encrypts app secrets at rest, needed
    /// to verify HS256 tokens; without it only Basic auth and ES256 tokens are accepted.
    pub secrets_key_file: Option<std::path::PathBuf>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 64 * 1024,
            max_batch_body_bytes: 8 * 1024 * 1024,
            max_batch_items: 1000,
            idempotency_window_s: 24 * 60 * 60,
            produce_timeout_ms: 5_000,
            tenant_rate_per_s: 2_000,
            tenant_burst: 4_000,
            max_schedule_ahead_s: 30 * 24 * 60 * 60,
            sms_max_segments: 10,
            auth_cache_ttl_ms: 30_000,
            jwt_leeway_s: 30,
            jwt_audience: "notify".into(),
            secrets_key_file: None,
        }
    }
}

/// The router stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterConfig {
    /// Consumer group of the routers; every router instance of a deployment shares it.
    pub group_id: String,
    /// Most requests routed together; their outputs are produced together and their offsets
    /// stored once all are acknowledged.
    pub batch_max: usize,
    /// How long to wait for more requests before routing a partial batch.
    pub batch_wait_ms: u64,
    /// How long a directory read (user, devices, preferences, category, template) is reused;
    /// admin API changes reach the router within this time.
    pub cache_ttl_ms: u64,
    /// Most entries of each directory cache.
    pub cache_capacity: u64,
    /// Locale used when neither the request nor the user names one with a template variant.
    pub default_locale: String,
    /// Sender address of rendered email. The default, `notify@localhost`, is refused by real
    /// email providers (the router warns at start): set a sender of your own domain.
    pub email_from: String,
    /// Longest pause between retries while the database or Kafka is unavailable.
    pub max_backoff_ms: u64,
    /// Whether critical categories bypass opt-out and quiet hours, for tenants whose settings
    /// (`notify tenants settings`) do not say.
    pub critical_bypass: bool,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            group_id: "notify-router".into(),
            batch_max: 500,
            batch_wait_ms: 5,
            cache_ttl_ms: 5_000,
            cache_capacity: 100_000,
            default_locale: "en".into(),
            email_from: "notify@localhost".into(),
            max_backoff_ms: 30_000,
            critical_bypass: true,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logging and metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Default filter when `RUST_LOG` is unset (tracing `EnvFilter` syntax).
    pub log_filter: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// Address of the admin listener serving Prometheus `/metrics`; none disables it.
    pub metrics_addr: Option<SocketAddr>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_filter: "info,scylla=warn".into(),
            log_format: LogFormat::Text,
            metrics_addr: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
        }
    }
}

/// Graceful shutdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// How long in-flight work may take to drain after SIGTERM before the process gives up.
    pub grace_period_ms: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            grace_period_ms: 30_000,
        }
    }
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
        if k.message_timeout_ms == 0 || k.request_timeout_ms == 0 {
            return invalid(
                "kafka",
                "message_timeout_ms and request_timeout_ms must be positive",
            );
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
        if i.max_batch_items == 0 || i.max_batch_items > 1000 {
            return invalid("ingest.max_batch_items", "must be between 1 and 1000");
        }
        if i.max_body_bytes < 1024 || i.max_batch_body_bytes < i.max_body_bytes {
            return invalid(
                "ingest.max_body_bytes",
                "must be at least 1024 and not above ingest.max_batch_body_bytes",
            );
        }
        if i.produce_timeout_ms == 0 || i.idempotency_window_s == 0 || i.sms_max_segments == 0 {
            return invalid(
                "ingest",
                "produce_timeout_ms, idempotency_window_s and sms_max_segments must be positive",
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
        self.dispatch.validate(self.kafka.session_timeout_ms())?;
        if self.shutdown.grace_period_ms == 0 {
            return invalid("shutdown.grace_period_ms", "must be positive");
        }
        Ok(())
    }
}

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

//! The `[kafka]` and `[store]` sections: the two clusters every stage connects to, and the
//! topic layout `notify topics create` makes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, SecretConfig, DEFAULT_SESSION_TIMEOUT_MS};

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
    /// How long one of a stage's consumers may stay out of its group (librdkafka's group state
    /// not `up`/`steady`) before the stage's `/healthz` fails, so that it is restarted: a
    /// consumer was seen never rejoining after a broker outage. Longer than
    /// `max.poll.interval.ms` (5 minutes by default), the longest a rebalance waits; an outage
    /// of the brokers longer than this fails it too.
    pub out_of_group_limit_ms: u64,
    /// Extra librdkafka properties applied to every client (e.g. `security.protocol`), after
    /// ours, so an operator can override any default.
    pub client_properties: BTreeMap<String, String>,
    /// librdkafka properties whose values are secrets (`sasl.password`, `ssl.key.password`),
    /// each named by where it is kept: `{ file = "..." }` or `{ env = "VAR" }`. Read when a
    /// client is built and applied after `client_properties`; never printed.
    pub secret_properties: BTreeMap<String, SecretConfig>,
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
            out_of_group_limit_ms: crate::group_watch::OUT_OF_GROUP_LIMIT_MS,
            client_properties: BTreeMap::new(),
            secret_properties: BTreeMap::new(),
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

    /// The lower of the consumers' session timeout and `max.poll.interval.ms` (librdkafka's
    /// default, 300000, unless set in `client_properties`): a drain must end before either.
    pub fn group_timeout_ms(&self) -> u64 {
        let poll = self
            .client_properties
            .get("max.poll.interval.ms")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(300_000);
        self.session_timeout_ms().min(poll)
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
    /// Requests of each kind (reads, writes) a dispatcher keeps out at once to the notification
    /// log; the reads and writes that come while all are out join the next one (an `IN` query
    /// of up to 64 keys, an unlogged batch of up to 10 rows). 0 sends each on its own.
    pub log_requests_in_flight: usize,
    /// Role to log in as when the cluster requires password authentication; with `password`.
    pub username: Option<String>,
    /// Where that role's password is kept: `{ file = "..." }` or `{ env = "VAR" }`.
    pub password: Option<SecretConfig>,
    /// TLS to the nodes; plaintext when unset.
    pub tls: Option<StoreTls>,
}

/// TLS to the database nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreTls {
    /// PEM file of the certificate authorities the nodes' certificates must chain to.
    pub ca_file: PathBuf,
    /// PEM certificate chain presented to nodes that require client certificates; with
    /// `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

impl StoreConfig {
    /// Checks the login and TLS settings: a user name and a readable password together, a
    /// client certificate and its key together.
    pub fn validate_security(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: String| Err(ConfigError::Invalid { field, reason });
        match (&self.username, &self.password) {
            (Some(_), None) => {
                return invalid("store.password", "must be set with store.username".into())
            }
            (None, Some(_)) => {
                return invalid("store.username", "must be set with store.password".into())
            }
            (Some(user), Some(_)) if user.trim().is_empty() => {
                return invalid("store.username", "must not be empty".into())
            }
            (Some(_), Some(password)) => {
                if let Err(err) = password.read() {
                    return invalid("store.password", err.to_string());
                }
            }
            (None, None) => {}
        }
        if let Some(tls) = &self.tls {
            if tls.cert_file.is_some() != tls.key_file.is_some() {
                return invalid(
                    "store.tls",
                    "cert_file and key_file go together (a client certificate and its key)".into(),
                );
            }
        }
        Ok(())
    }
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
            log_requests_in_flight: 4,
            username: None,
            password: None,
            tls: None,
        }
    }
}

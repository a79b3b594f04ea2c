//! The `[schema_registry]` section: an optional Confluent-compatible schema registry, through
//! which stages read Confluent-framed records and, per kind of topic, write them.

use serde::{Deserialize, Serialize};

use super::{ConfigError, SecretConfig};

/// The kinds of topic whose records can be written with Confluent framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FramedTopics {
    /// `notify.requests`, as `notify produce` and ingest write it.
    Requests,
    /// The channels' delivery topics (normal and bulk) and the retry tiers.
    Deliveries,
    /// `notify.status`.
    Status,
}

/// A schema registry speaking the Confluent API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaRegistryConfig {
    /// Base URL of the Confluent-compatible API (Apicurio serves it under
    /// `/apis/ccompat/v7`). Empty: no registry; Confluent-framed records are dead-lettered and
    /// everything is written single-object.
    pub url: String,
    /// Timeout of one registry request.
    pub timeout_ms: u64,
    /// Further tries of a request the registry could not answer, before the record waits and
    /// tries again later (it is never dead-lettered for that).
    pub retries: u32,
    /// Basic-auth user, if the registry asks for one.
    pub username: Option<String>,
    /// Basic-auth password, named by where it is kept (`{ file = "..." }`, `{ env = "VAR" }`).
    pub password: Option<SecretConfig>,
    /// The topics written with Confluent framing (`00` + registry id), so standard
    /// deserializers read them; the others stay Avro single-object. Their schemas must be
    /// registered first (`notify schemas register`).
    pub confluent_topics: Vec<FramedTopics>,
    /// How long a stage waits at start for the registry to answer before giving up.
    pub startup_wait_ms: u64,
}

impl Default for SchemaRegistryConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            timeout_ms: 2_000,
            retries: 2,
            username: None,
            password: None,
            confluent_topics: Vec::new(),
            startup_wait_ms: 60_000,
        }
    }
}

impl SchemaRegistryConfig {
    /// Whether a registry is configured.
    pub fn enabled(&self) -> bool {
        !self.url.trim().is_empty()
    }

    /// Whether `topics` are written with Confluent framing.
    pub fn writes_confluent(&self, topics: FramedTopics) -> bool {
        self.confluent_topics.contains(&topics)
    }

    /// Checks the section on its own.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: String| Err(ConfigError::Invalid { field, reason });
        if !self.enabled() {
            if !self.confluent_topics.is_empty() {
                return invalid(
                    "schema_registry.confluent_topics",
                    "needs schema_registry.url (the ids come from the registry)".into(),
                );
            }
            return Ok(());
        }
        let url = self.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return invalid(
                "schema_registry.url",
                "must be an http:// or https:// URL".into(),
            );
        }
        if self.timeout_ms == 0 || self.startup_wait_ms == 0 {
            return invalid(
                "schema_registry",
                "timeout_ms and startup_wait_ms must be positive".into(),
            );
        }
        match (&self.username, &self.password) {
            (Some(_), Some(password)) => {
                if let Err(err) = password.read() {
                    return invalid("schema_registry.password", err.to_string());
                }
            }
            (None, None) => {}
            _ => {
                return invalid(
                    "schema_registry",
                    "username and password go together".into(),
                )
            }
        }
        Ok(())
    }
}

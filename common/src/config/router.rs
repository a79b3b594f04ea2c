//! The `[router]` section: the router stage (`notify router`).

use serde::{Deserialize, Serialize};

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
    /// Size of each directory cache (users, categories, templates), in KiB-sized units: an
    /// entry counts one unit per started KiB of its contents, so a cache holds at most about
    /// this many KiB however large its entries (the default bounds each to about 100 MiB).
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
    /// Most segments a rendered SMS may take; a longer one fails its delivery
    /// (`render_failed`). Ingest refuses inline SMS above `ingest.sms_max_segments`, which may
    /// not be higher.
    pub sms_max_segments: u32,
    /// Largest rendered email (subject, html and text together), in bytes; a larger one fails
    /// its delivery (`render_failed`). At most 921600, so a delivery always fits a Kafka record.
    pub email_max_bytes: usize,
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
            sms_max_segments: 10,
            email_max_bytes: 256 * 1024,
        }
    }
}

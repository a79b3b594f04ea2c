//! The `[webhooks]` section: tenants' webhook endpoints, registered on the gateway and called
//! by the webhook sender (`notify webhooks`).

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// How status events are posted to tenants' endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Consumer group of the webhook senders on `notify.status`; every instance shares it.
    pub group_id: String,
    /// Most status records read before their backlog rows are written together.
    pub batch_max: usize,
    /// How long one POST may take, connecting included; a slower endpoint counts as failed.
    pub request_timeout_ms: u64,
    /// First pause after a failed POST; it doubles with each failure (full jitter).
    pub initial_backoff_ms: u64,
    /// Longest pause between two attempts at one endpoint.
    pub max_backoff_ms: u64,
    /// How long an event may wait for its endpoint, from when it was read: an event still not
    /// taken (2xx) after this long is dead-lettered at its next failure. Far above any outage
    /// a tenant should live through (the default is a day).
    pub retry_budget_s: u64,
    /// Most POSTs in flight at once, over all endpoints.
    pub max_in_flight: usize,
    /// Backlog rows one endpoint's worker holds in memory at a time.
    pub page_size: usize,
    /// Most endpoints one tenant may register.
    pub max_endpoints_per_tenant: usize,
    /// How long a tenant's endpoint list is reused before it is read again; a registration or
    /// deletion reaches the sender within this time.
    pub cache_ttl_ms: u64,
    /// Ports an endpoint may use (443 unless set).
    pub allowed_ports: Vec<u16>,
    /// Test only: allow `http` to `localhost` or a loopback address, on any port. Never in
    /// production: it lets a tenant make the system call services on its own host.
    pub allow_insecure_loopback: bool,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            group_id: "notify-webhooks".into(),
            batch_max: 500,
            request_timeout_ms: 10_000,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            retry_budget_s: 24 * 60 * 60,
            max_in_flight: 64,
            page_size: 100,
            max_endpoints_per_tenant: 10,
            cache_ttl_ms: 5_000,
            allowed_ports: vec![443],
            allow_insecure_loopback: false,
        }
    }
}

impl WebhooksConfig {
    /// Checks ranges and relations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.group_id.is_empty() {
            return invalid("webhooks.group_id", "must be set");
        }
        let positive = [
            self.batch_max,
            self.max_in_flight,
            self.page_size,
            self.max_endpoints_per_tenant,
        ];
        if positive.contains(&0) || self.request_timeout_ms == 0 || self.cache_ttl_ms == 0 {
            return invalid(
                "webhooks",
                "batch_max, max_in_flight, page_size, max_endpoints_per_tenant, \
                 request_timeout_ms and cache_ttl_ms must be positive",
            );
        }
        if self.initial_backoff_ms == 0 || self.max_backoff_ms < self.initial_backoff_ms {
            return invalid(
                "webhooks.max_backoff_ms",
                "initial_backoff_ms must be positive and max_backoff_ms not below it",
            );
        }
        if self.retry_budget_s * 1000 < self.max_backoff_ms {
            return invalid(
                "webhooks.retry_budget_s",
                "must cover at least one max_backoff_ms pause",
            );
        }
        if self.allowed_ports.is_empty() {
            return invalid("webhooks.allowed_ports", "must name at least one port");
        }
        Ok(())
    }
}

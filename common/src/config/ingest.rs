//! The `[ingest]` section: the HTTP gateway and admin API (`notify ingest`).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The HTTP ingest gateway and admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Address of the public API. Metrics are served on `telemetry.metrics_addr` instead.
    pub listen_addr: SocketAddr,
    /// How long a client may take to send a request's headers, from the connection's start or
    /// the end of its previous response; a slower one is disconnected (at least 100).
    pub header_read_timeout_ms: u64,
    /// How long a connection may go without reading or writing a byte before it is closed
    /// (a stalled body or a client that stops reading); above `produce_timeout_ms` and
    /// `store.request_timeout_ms`, so a request waiting on them is never cut.
    pub idle_timeout_ms: u64,
    /// Most client connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Largest accepted body of a single-notification or admin request (templates: see
    /// `max_template_body_bytes`).
    pub max_body_bytes: usize,
    /// Largest accepted body of a template upsert (`PUT /v1/templates/{id}`), whose email
    /// variants may carry large HTML; between `max_body_bytes` and `max_batch_body_bytes`.
    pub max_template_body_bytes: usize,
    /// Largest accepted body of a batch request.
    pub max_batch_body_bytes: usize,
    /// Most notifications in one batch request.
    pub max_batch_items: usize,
    /// How long an `Idempotency-Key` maps to its first event id.
    pub idempotency_window_s: u64,
    /// How long a request may wait for Kafka's delivery report before it is answered 503.
    pub produce_timeout_ms: u64,
    /// Sustained requests per second one tenant may make (every tenant route, admin included);
    /// 0 disables the limit. Over it: 429 with `Retry-After`.
    pub tenant_rate_per_s: u32,
    /// Requests one tenant may burst above the sustained rate.
    pub tenant_burst: u32,
    /// Sustained notifications per second one tenant may submit, a batch of N counting N;
    /// 0 disables the limit. Over it: 429 with `Retry-After`, nothing of the request accepted.
    pub tenant_notifications_per_s: u32,
    /// Notifications one tenant may burst above the sustained rate; at least
    /// `max_batch_items` while the limit is on, so a full batch can pass.
    pub tenant_notification_burst: u32,
    /// Tenants whose quotas differ from the four `tenant_*` settings above, by tenant id;
    /// a field left out keeps the shared value (`[ingest.tenant_quotas.tn_acme]`,
    /// `notifications_per_s = 20000`).
    pub tenant_quotas: BTreeMap<String, QuotaOverride>,
    /// How long `/readyz` answers from its last check of Kafka and the database before it checks
    /// again (100 to 60,000): however often it is called, at most one check runs per interval.
    pub ready_check_interval_ms: u64,
    /// How far ahead `send_at` may lie.
    pub max_schedule_ahead_s: u64,
    /// Most SMS segments one message may take (GSM-7: 153 characters per segment, UCS-2: 67).
    pub sms_max_segments: u32,
    /// How long a successful credential check is remembered, so auth is not the bottleneck.
    pub auth_cache_ttl_ms: u64,
    /// How long a refused credential is remembered (at most 60,000; 0 turns it off), so
    /// repeating bad credentials costs no database read; a key created or enabled meanwhile
    /// works at the latest this long after.
    pub auth_negative_cache_ttl_ms: u64,
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
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 4_096,
            max_body_bytes: 64 * 1024,
            max_template_body_bytes: 1024 * 1024,
            max_batch_body_bytes: 8 * 1024 * 1024,
            max_batch_items: 1000,
            idempotency_window_s: 24 * 60 * 60,
            produce_timeout_ms: 5_000,
            tenant_rate_per_s: 2_000,
            tenant_burst: 4_000,
            tenant_notifications_per_s: 5_000,
            tenant_notification_burst: 10_000,
            tenant_quotas: BTreeMap::new(),
            ready_check_interval_ms: 5_000,
            max_schedule_ahead_s: 30 * 24 * 60 * 60,
            sms_max_segments: 10,
            auth_cache_ttl_ms: 30_000,
            auth_negative_cache_ttl_ms: 2_000,
            jwt_leeway_s: 30,
            jwt_audience: "notify".into(),
            secrets_key_file: None,
        }
    }
}

/// One tenant's quotas where they differ from the shared ones; unset fields keep them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaOverride {
    /// Sustained requests per second (0: no limit).
    pub rate_per_s: Option<u32>,
    /// Requests above the sustained rate.
    pub burst: Option<u32>,
    /// Sustained notifications per second (0: no limit).
    pub notifications_per_s: Option<u32>,
    /// Notifications above the sustained rate; at least `max_batch_items` while limited.
    pub notification_burst: Option<u32>,
}

/// A tenant's quotas, every field resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Sustained requests per second (0: no limit).
    pub rate_per_s: u32,
    /// Requests above the sustained rate.
    pub burst: u32,
    /// Sustained notifications per second (0: no limit).
    pub notifications_per_s: u32,
    /// Notifications above the sustained rate.
    pub notification_burst: u32,
}

impl IngestConfig {
    /// The quotas of a tenant without an override.
    pub fn shared_quotas(&self) -> Quotas {
        Quotas {
            rate_per_s: self.tenant_rate_per_s,
            burst: self.tenant_burst,
            notifications_per_s: self.tenant_notifications_per_s,
            notification_burst: self.tenant_notification_burst,
        }
    }

    /// Every tenant with its own quotas, resolved against the shared ones.
    pub fn quota_overrides(&self) -> impl Iterator<Item = (&str, Quotas)> + '_ {
        let shared = self.shared_quotas();
        self.tenant_quotas.iter().map(move |(tenant, o)| {
            let quotas = Quotas {
                rate_per_s: o.rate_per_s.unwrap_or(shared.rate_per_s),
                burst: o.burst.unwrap_or(shared.burst),
                notifications_per_s: o.notifications_per_s.unwrap_or(shared.notifications_per_s),
                notification_burst: o.notification_burst.unwrap_or(shared.notification_burst),
            };
            (tenant.as_str(), quotas)
        })
    }
}

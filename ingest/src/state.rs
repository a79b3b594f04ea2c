//! Shared state of the gateway's handlers: the parts behind narrow traits, built once at start.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use notify_common::config::IngestConfig;
use notify_schemas::{Codec, NotificationRequest};
use notify_store::directory::Directory;
use notify_store::suppressions::SuppressionList;

use crate::auth::Authenticator;
use crate::ratelimit::TenantLimiter;
use crate::readiness::ReadyCache;
use crate::receipts::Receipts;
use crate::routes::admin::webhooks::WebhookAdmin;
use crate::tracking::Tracking;
use crate::validate::Limits;
use notify_common::publish::Publisher;
use notify_store::idempotency::Ledger;

/// Everything a handler may need; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Gateway settings.
    pub config: Arc<IngestConfig>,
    /// Validation limits derived from the settings.
    pub limits: Arc<Limits>,
    /// Writes accepted requests to Kafka.
    pub publisher: Arc<dyn Publisher>,
    /// The topic accepted requests go to (`notify.requests` under the configured prefix).
    pub requests_topic: String,
    /// Idempotency claims and the notification log.
    pub ledger: Arc<dyn Ledger>,
    /// Users, devices, preferences, templates, categories.
    pub directory: Arc<dyn Directory>,
    /// Checks credentials.
    pub auth: Arc<Authenticator>,
    /// Per-tenant request rate limit.
    pub limiter: Arc<TenantLimiter>,
    /// The last readiness answer, so `/readyz` is cheap.
    pub readiness: Arc<ReadyCache>,
    /// Avro codec of `notify.requests`, built once.
    pub codec: Arc<Codec<NotificationRequest>>,
    /// Provider receipts (signed webhooks), when a provider is configured to send them.
    pub receipts: Option<Arc<Receipts>>,
    /// The suppression list, which the admin API reads and lifts entries of.
    pub suppressions: Arc<dyn SuppressionList>,
    /// Tracked opens and clicks, when `[links]` is on (recorded through `receipts`).
    pub tracking: Option<Arc<Tracking>>,
    /// Unsubscribe links and the preference page, when `[links]` is configured.
    pub preferences: Option<Arc<crate::preferences::Preferences>>,
    /// Tenants' webhook endpoints.
    pub webhooks: Arc<WebhookAdmin>,
}

impl AppState {
    /// How long a request may wait for Kafka.
    pub fn produce_timeout(&self) -> Duration {
        Duration::from_millis(self.config.produce_timeout_ms)
    }
}

impl FromRef<AppState> for Arc<dyn Directory> {
    fn from_ref(state: &AppState) -> Self {
        state.directory.clone()
    }
}

impl FromRef<AppState> for Arc<dyn SuppressionList> {
    fn from_ref(state: &AppState) -> Self {
        state.suppressions.clone()
    }
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<AppState> for Arc<TenantLimiter> {
    fn from_ref(state: &AppState) -> Self {
        state.limiter.clone()
    }
}

impl FromRef<AppState> for Arc<WebhookAdmin> {
    fn from_ref(state: &AppState) -> Self {
        state.webhooks.clone()
    }
}

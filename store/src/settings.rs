//! Tenant settings (`tenant_settings`), the per-tenant policy the router applies: whether critical
//! categories bypass opt-out and quiet hours, the default locale, and per-user rate limits with
//! what to do over the limit.
//!
//! Stored one row per tenant in `tenant_settings`; a tenant without a row (or a field left
//! null) gets the router's configured defaults. The rules are validated before they are
//! stored, so the router never meets a rule it cannot apply.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use notify_schemas::{Channel, Priority};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use serde::{Deserialize, Serialize};

use crate::cql::check_keyspace;
use crate::tenants::StoreFuture;
use crate::{StoreError, StoreResult};

/// Longest rate-limit window: `rate_events` rows live a little longer than this.
pub const MAX_WINDOW_S: u32 = 24 * 3600;

/// One tenant's policy; `None` fields fall back to the router's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// Whether a category marked critical bypasses opt-out and quiet hours.
    #[serde(default)]
    pub allow_critical_bypass: Option<bool>,
    /// Locale used when the user has none or no template exists in theirs.
    #[serde(default)]
    pub default_locale: Option<String>,
    /// Per-user rate limits; empty means unlimited.
    #[serde(default)]
    pub rate_limits: Vec<RateLimitRule>,
    /// What happens to a send over a limit.
    #[serde(default)]
    pub over_limit: OverLimit,
}

/// At most `limit` sends to one user within `window_s` seconds, counted over the sends on
/// `channel` (every channel when absent) whose priority is in `priorities`. Critical sends are
/// never limited and never counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRule {
    /// `apns`, `fcm`, `webpush`, `sms` or `email`; absent for a limit across channels.
    #[serde(default)]
    pub channel: Option<String>,
    /// Which priorities the rule counts and limits: any of `high`, `normal`, `bulk`.
    pub priorities: Vec<String>,
    /// Sends allowed within the window.
    pub limit: u32,
    /// Window length in seconds, at most a day.
    pub window_s: u32,
}

/// What happens to a send over a rate limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverLimit {
    /// Dropped with a `SUPPRESSED` status, reason `rate_limited`.
    #[default]
    Suppress,
    /// Held in the schedule until the window has room, with a `SCHEDULED` status.
    Defer,
}

impl OverLimit {
    /// The name stored in `tenant_settings.over_limit`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OverLimit::Suppress => "suppress",
            OverLimit::Defer => "defer",
        }
    }
}

impl RateLimitRule {
    /// The channel the rule is about, `None` for all channels.
    pub fn channel(&self) -> Option<Channel> {
        self.channel.as_deref().and_then(Channel::parse)
    }

    /// Whether the rule counts sends of `priority`.
    pub fn covers(&self, priority: Priority) -> bool {
        self.priorities
            .iter()
            .any(|p| priority_name(priority) == Some(p.as_str()))
    }

    fn validate(&self, index: usize) -> Result<(), String> {
        if let Some(name) = &self.channel {
            if self.channel().is_none() {
                return Err(format!(
                    "rate_limits[{index}].channel: unknown channel {name:?}"
                ));
            }
        }
        if self.priorities.is_empty() {
            return Err(format!(
                "rate_limits[{index}].priorities: name at least one of high, normal, bulk"
            ));
        }
        for p in &self.priorities {
            if !matches!(p.as_str(), "high" | "normal" | "bulk") {
                return Err(format!(
                    "rate_limits[{index}].priorities: {p:?} is not one of high, normal, bulk (critical is never limited)"
                ));
            }
        }
        if self.window_s == 0 || self.window_s > MAX_WINDOW_S {
            return Err(format!(
                "rate_limits[{index}].window_s: must be between 1 and {MAX_WINDOW_S}"
            ));
        }
        Ok(())
    }
}

/// The lowercase name of a limitable priority; `None` for critical.
pub const fn priority_name(priority: Priority) -> Option<&'static str> {
    match priority {
        Priority::Critical => None,
        Priority::High => Some("high"),
        Priority::Normal => Some("normal"),
        Priority::Bulk => Some("bulk"),
    }
}

impl TenantSettings {
    /// Checks every rule and the locale; the error names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(locale) = &self.default_locale {
            let ok = !locale.is_empty()
                && locale.len() <= 35
                && locale
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(format!("default_locale: {locale:?} is not a locale tag"));
            }
        }
        if self.rate_limits.len() > 32 {
            return Err("rate_limits: at most 32 rules".to_owned());
        }
        for (index, rule) in self.rate_limits.iter().enumerate() {
            rule.validate(index)?;
        }
        Ok(())
    }

    /// The longest window of any rule, in seconds (0 without rules).
    pub fn longest_window_s(&self) -> u32 {
        self.rate_limits
            .iter()
            .map(|r| r.window_s)
            .max()
            .unwrap_or(0)
    }
}

/// Storage of tenant settings.
pub trait SettingsStore: Send + Sync + std::fmt::Debug {
    /// The tenant's settings; `None` when none were ever stored.
    fn settings<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Option<TenantSettings>>;
    /// Replaces the tenant's settings; the caller validated them.
    fn put_settings<'a>(
        &'a self,
        tenant_id: &'a str,
        settings: &'a TenantSettings,
    ) -> StoreFuture<'a, ()>;
}

/// [`SettingsStore`] on the `tenant_settings` table.
#[derive(Debug)]
pub struct CassandraSettings {
    session: Arc<Session>,
    select: PreparedStatement,
    upsert: PreparedStatement,
}

impl CassandraSettings {
    /// Prepares the statements against `keyspace` (which must already be migrated).
    pub async fn new(session: Arc<Session>, keyspace: &str) -> StoreResult<Self> {
        check_keyspace(keyspace)?;
        let select = session
            .prepare(format!(
                "SELECT allow_critical_bypass, default_locale, rate_limits, over_limit \
                 FROM {keyspace}.tenant_settings WHERE tenant_id = ?"
            ))
            .await?;
        let upsert = session
            .prepare(format!(
                "INSERT INTO {keyspace}.tenant_settings (tenant_id, allow_critical_bypass, \
                 default_locale, rate_limits, over_limit, updated_at) \
                 VALUES (?, ?, ?, ?, ?, toTimestamp(now()))"
            ))
            .await?;
        Ok(Self {
            session,
            select,
            upsert,
        })
    }

    async fn fetch(&self, tenant_id: &str) -> StoreResult<Option<TenantSettings>> {
        type Row = (Option<bool>, Option<String>, Option<String>, Option<String>);
        let result = self
            .session
            .execute_unpaged(&self.select, (tenant_id,))
            .await?
            .into_rows_result()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        let Some((bypass, locale, rules, over_limit)) = result
            .maybe_first_row::<Row>()
            .map_err(|err| StoreError::Result(err.to_string()))?
        else {
            return Ok(None);
        };
        let broken =
            |what: String| StoreError::Result(format!("tenant_settings {tenant_id}: {what}"));
        let rate_limits = match rules.as_deref() {
            None | Some("") => Vec::new(),
            Some(json) => {
                serde_json::from_str(json).map_err(|e| broken(format!("rate_limits: {e}")))?
            }
        };
        let over_limit = match over_limit.as_deref() {
            None | Some("suppress") => OverLimit::Suppress,
            Some("defer") => OverLimit::Defer,
            Some(other) => return Err(broken(format!("unknown over_limit {other:?}"))),
        };
        Ok(Some(TenantSettings {
            allow_critical_bypass: bypass,
            default_locale: locale,
            rate_limits,
            over_limit,
        }))
    }

    async fn store(&self, tenant_id: &str, settings: &TenantSettings) -> StoreResult<()> {
        let rules = serde_json::to_string(&settings.rate_limits)
            .map_err(|e| StoreError::Result(e.to_string()))?;
        self.session
            .execute_unpaged(
                &self.upsert,
                (
                    tenant_id,
                    settings.allow_critical_bypass,
                    settings.default_locale.as_deref(),
                    rules,
                    settings.over_limit.as_str(),
                ),
            )
            .await?;
        Ok(())
    }
}

impl SettingsStore for CassandraSettings {
    fn settings<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Option<TenantSettings>> {
        Box::pin(self.fetch(tenant_id))
    }

    fn put_settings<'a>(
        &'a self,
        tenant_id: &'a str,
        settings: &'a TenantSettings,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.store(tenant_id, settings))
    }
}

/// In-memory [`SettingsStore`] for tests and the embedded mode.
#[derive(Debug, Clone, Default)]
pub struct MemorySettings {
    rows: Arc<Mutex<HashMap<String, TenantSettings>>>,
}

impl MemorySettings {
    /// No tenant has settings.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SettingsStore for MemorySettings {
    fn settings<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Option<TenantSettings>> {
        let found = self
            .rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant_id)
            .cloned();
        Box::pin(async move { Ok(found) })
    }

    fn put_settings<'a>(
        &'a self,
        tenant_id: &'a str,
        settings: &'a TenantSettings,
    ) -> StoreFuture<'a, ()> {
        self.rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant_id.to_owned(), settings.clone());
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        channel: Option<&str>,
        priorities: &[&str],
        limit: u32,
        window_s: u32,
    ) -> RateLimitRule {
        RateLimitRule {
            channel: channel.map(str::to_owned),
            priorities: priorities.iter().map(|p| (*p).to_owned()).collect(),
            limit,
            window_s,
        }
    }

    #[test]
    fn settings_parse_from_json_and_validate() {
        let settings: TenantSettings = serde_json::from_str(
            r#"{"default_locale":"ko","over_limit":"defer",
                "rate_limits":[{"channel":"sms","priorities":["normal","bulk"],"limit":3,"window_s":3600}]}"#,
        )
        .unwrap();
        assert_eq!(settings.over_limit, OverLimit::Defer);
        assert_eq!(settings.rate_limits[0].channel(), Some(Channel::Sms));
        assert!(settings.rate_limits[0].covers(Priority::Bulk));
        assert!(!settings.rate_limits[0].covers(Priority::High));
        assert!(!settings.rate_limits[0].covers(Priority::Critical));
        settings.validate().unwrap();
        assert!(serde_json::from_str::<TenantSettings>(r#"{"rate_limit":[]}"#).is_err());
    }

    #[test]
    fn invalid_rules_are_refused_with_the_field() {
        let bad = [
            (rule(Some("pager"), &["normal"], 1, 60), "channel"),
            (rule(None, &[], 1, 60), "priorities"),
            (rule(None, &["critical"], 1, 60), "priorities"),
            (rule(None, &["normal"], 1, 0), "window_s"),
            (rule(None, &["normal"], 1, MAX_WINDOW_S + 1), "window_s"),
        ];
        for (rule, field) in bad {
            let settings = TenantSettings {
                rate_limits: vec![rule],
                ..TenantSettings::default()
            };
            let err = settings.validate().unwrap_err();
            assert!(err.contains(field), "{err}");
        }
        let locale = TenantSettings {
            default_locale: Some("en US".into()),
            ..TenantSettings::default()
        };
        assert!(locale.validate().unwrap_err().contains("default_locale"));
    }
}

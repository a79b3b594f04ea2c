//! Per-user rate limits: which of a request's channels may be sent now.
//!
//! Guarantees: the count lives in the database ([`RateLog`]), so a restart or a partition
//! moving to another router does not reset it; checks for one user are serialised within a
//! router (two requests for the same user in one batch cannot both take the last slot), and
//! one user's requests are on one partition, so one router at a time decides for them. A
//! re-routed request whose send was already counted is let through again without counting it
//! twice (its deliveries keep their ids; the dispatchers' dedup stops a second send).
//! Requests of a category the tenant marked critical are never limited nor counted; the
//! priority a caller sets exempts nothing (a `critical` request of another category is limited
//! as `high`). Not guaranteed: exactness during the
//! seconds of a rebalance in which two routers could both hold a user's partition.
//!
//! What happens over a limit is decided here too ([`apply`]): the tenant's [`OverLimit`] either
//! suppresses the channels (`rate_limited`) or holds them back as a copy of the request for the
//! schedule, due when the window has room. Writing that copy is the caller's job.

use std::sync::Arc;
use std::time::Duration;

use notify_schemas::{Channel, NotificationRequest, Priority};
use notify_store::ratelog::{RateEvent, RateLog};
use notify_store::settings::{OverLimit, RateLimitRule, TenantSettings};
use notify_store::StoreResult;

use crate::plan::{Plan, Reason, Suppressed};

/// What the limits say about one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within every limit: count it and send.
    Allowed,
    /// Counted before (a re-routed request): send without counting.
    AlreadyCounted,
    /// Over a limit; a slot frees at this instant (Unix epoch milliseconds).
    Over {
        /// When the tightest violated window has room again.
        free_at_ms: i64,
    },
}

/// Checks one send against `rules`, given the user's counted sends `events`.
///
/// A rule applies when it covers the send's priority and its channel (or names none); it counts
/// the events of its window on its channel (or all) with a priority it covers. With `n` of
/// them and a limit `l`, the send is over when `n >= l`, and room returns when the `(n-l+1)`th
/// oldest leaves the window.
pub fn check(
    rules: &[RateLimitRule],
    events: &[RateEvent],
    send: &RateEvent,
    now_ms: i64,
) -> Verdict {
    if send.priority == Priority::Critical {
        return Verdict::Allowed;
    }
    if events.iter().any(|e| e.send_key == send.send_key) {
        return Verdict::AlreadyCounted;
    }
    let mut free_at: Option<i64> = None;
    for rule in rules {
        let rule_channel = rule.channel();
        if !rule.covers(send.priority) || rule_channel.is_some_and(|c| c != send.channel) {
            continue;
        }
        let window_ms = i64::from(rule.window_s) * 1000;
        let since = now_ms - window_ms;
        let mut times: Vec<i64> = events
            .iter()
            .filter(|e| {
                e.at_ms > since
                    && rule_channel.is_none_or(|c| c == e.channel)
                    && rule.covers(e.priority)
            })
            .map(|e| e.at_ms)
            .collect();
        let limit = rule.limit as usize;
        if times.len() < limit {
            continue;
        }
        times.sort_unstable();
        let frees = match times.len().checked_sub(limit) {
            Some(index) if limit > 0 => times[index] + window_ms + 1,
            _ => now_ms + window_ms,
        };
        free_at = Some(free_at.map_or(frees, |f| f.max(frees)));
    }
    match free_at {
        Some(free_at_ms) => Verdict::Over { free_at_ms },
        None => Verdict::Allowed,
    }
}

/// Whether some rule counts sends on `channel` at `priority` (only those are recorded).
fn counted_by_any(rules: &[RateLimitRule], channel: Channel, priority: Priority) -> bool {
    rules
        .iter()
        .any(|r| r.covers(priority) && r.channel().is_none_or(|c| c == channel))
}

/// The key a send is counted under.
pub fn send_key(event_id: impl std::fmt::Display, channel: Channel) -> String {
    format!("{event_id}:{}", channel.as_str())
}

/// Channels over a limit, and when the last of them has room again.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limited {
    /// Channels that may not be sent now.
    pub channels: Vec<Channel>,
    /// When all of them have room again (Unix epoch milliseconds); 0 when none is limited.
    pub free_at_ms: i64,
}

/// Applies tenants' rate limits against the shared [`RateLog`].
#[derive(Debug, Clone)]
pub struct RateLimiter {
    log: Arc<dyn RateLog>,
    locks: moka::future::Cache<String, Arc<tokio::sync::Mutex<()>>>,
}

impl RateLimiter {
    /// A limiter counting in `log`.
    pub fn new(log: Arc<dyn RateLog>) -> Self {
        Self {
            log,
            locks: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(60))
                .build(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    /// Decides for each of `channels` (distinct) of one request whether it may be sent now,
    /// counting the ones that may. Channels are checked in order, so a limit across channels
    /// lets the first ones through.
    pub async fn admit(
        &self,
        settings: &TenantSettings,
        tenant: &str,
        user_id: &str,
        event_id: &str,
        priority: Priority,
        channels: &[Channel],
        now_ms: i64,
    ) -> StoreResult<Limited> {
        let rules = &settings.rate_limits;
        if priority == Priority::Critical
            || channels.is_empty()
            || !rules.iter().any(|r| r.covers(priority))
        {
            return Ok(Limited::default());
        }
        let lock = self
            .locks
            .get_with(format!("{tenant}:{user_id}"), async { Arc::default() })
            .await;
        let _held = lock.lock().await;
        let window_ms = i64::from(settings.longest_window_s()) * 1000;
        let mut events = self.log.recent(tenant, user_id, now_ms - window_ms).await?;
        let mut limited = Limited::default();
        for &channel in channels {
            let send = RateEvent {
                send_key: send_key(event_id, channel),
                channel,
                priority,
                at_ms: now_ms,
            };
            match check(rules, &events, &send, now_ms) {
                Verdict::AlreadyCounted => {}
                Verdict::Allowed if !counted_by_any(rules, channel, priority) => {}
                Verdict::Allowed => {
                    let ttl_s = settings.longest_window_s() + 60;
                    self.log.record(tenant, user_id, &send, ttl_s).await?;
                    events.push(send);
                }
                Verdict::Over { free_at_ms } => {
                    limited.channels.push(channel);
                    limited.free_at_ms = limited.free_at_ms.max(free_at_ms);
                }
            }
        }
        Ok(limited)
    }
}

impl RateLimiter {
    /// Checks the channels `decided` still targets against the tenant's limits (counting the
    /// ones let through) and takes those over a limit out of `decided`, as [`apply`] does.
    /// `critical_category`: the request's category is one the tenant marked critical, the only
    /// thing that exempts it.
    pub async fn limit(
        &self,
        settings: &TenantSettings,
        request: &NotificationRequest,
        critical_category: bool,
        decided: &mut Plan,
        now_ms: i64,
    ) -> StoreResult<Option<Held>> {
        let mut channels: Vec<Channel> = decided.targets.iter().map(|t| t.channel).collect();
        channels.dedup();
        if critical_category {
            return Ok(None);
        }
        let limited = self
            .admit(
                settings,
                &request.tenant,
                &request.user_id,
                &request.event_id.to_string(),
                limited_priority(request.priority),
                &channels,
                now_ms,
            )
            .await?;
        Ok(apply(settings.over_limit, request, decided, &limited))
    }
}

/// The priority a request is limited at: its own, except that a caller's `critical` counts as
/// `high` (only a critical category is exempt, and [`RateLimiter::limit`] checks that first).
pub fn limited_priority(priority: Priority) -> Priority {
    match priority {
        Priority::Critical => Priority::High,
        other => other,
    }
}

/// A copy of a request held back by its rate limits, for the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The request, naming only the channels over a limit.
    pub request: NotificationRequest,
    /// When every one of them has room again (Unix epoch milliseconds).
    pub due_at_ms: i64,
}

/// Takes the channels in `limited` out of `decided`. With [`OverLimit::Suppress`] their
/// targets become `rate_limited` suppressions; with [`OverLimit::Defer`] they are returned as
/// a [`Held`] copy of `request` naming only them. Nothing changes when none is limited.
pub fn apply(
    over_limit: OverLimit,
    request: &NotificationRequest,
    decided: &mut Plan,
    limited: &Limited,
) -> Option<Held> {
    if limited.channels.is_empty() {
        return None;
    }
    let (over, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut decided.targets)
        .into_iter()
        .partition(|t| limited.channels.contains(&t.channel));
    decided.targets = kept;
    match over_limit {
        OverLimit::Suppress => {
            decided
                .suppressed
                .extend(over.into_iter().map(|t| Suppressed {
                    channel: Some(t.channel),
                    recipient: Some(t.recipient),
                    reason: Reason::RateLimited,
                }));
            None
        }
        OverLimit::Defer => Some(Held {
            request: NotificationRequest {
                channels: limited.channels.clone(),
                ..request.clone()
            },
            due_at_ms: limited.free_at_ms,
        }),
    }
}

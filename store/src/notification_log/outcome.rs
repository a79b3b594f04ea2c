//! Rows of the notification log written by the router: the outcomes it decides without a
//! delivery (suppressed, scheduled, expired, render failed), so a status look-up finds every
//! accepted notification, not only the ones a dispatcher saw.
//!
//! Guarantees: a router row can never be read, replaced or deleted as a dispatcher's delivery
//! row. Its channel column is the channel name behind [`ROUTER_PREFIX`] (`router:sms`), which
//! no dispatcher writes (they write bare channel names), so the dispatchers' dedup read of
//! (channel, recipient) never sees it. An outcome about a whole request (expired, deferred by
//! `send_at` or quiet hours, nothing reachable) has channel [`ANY`], one about a whole channel
//! (held by a rate limit) has recipient [`ANY`]; so each granularity has a key of its own and a
//! later routing of the same request replaces what an earlier one wrote at the same key.
//! Not guaranteed: that a row the router wrote before a deferral disappears by itself; the
//! router deletes its stale `scheduled` rows when it routes the deferred request again.

use super::{LogEntry, LogWrite};

/// Prefix of the channel column of every row the router writes.
pub const ROUTER_PREFIX: &str = "router:";

/// Channel or recipient of an outcome that covers all of them.
pub const ANY: &str = "*";

/// Who wrote a notification log row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// The router, deciding without a delivery.
    Router,
    /// A dispatcher, about one delivery.
    Dispatcher,
}

impl Origin {
    /// `router` or `dispatcher`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Origin::Router => "router",
            Origin::Dispatcher => "dispatcher",
        }
    }
}

/// One outcome the router decided, as it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterOutcome {
    /// Tenant of the event.
    pub tenant: String,
    /// Event id (hyphenated UUID text).
    pub event_id: String,
    /// Channel it is about; `None` for the whole request.
    pub channel: Option<String>,
    /// Recipient key it is about; `None` for every recipient of the channel.
    pub recipient: Option<String>,
    /// Delivery id, when the outcome is about one recipient.
    pub delivery_id: Option<String>,
    /// `suppressed`, `scheduled`, `expired` or `failed`.
    pub state: String,
    /// Why (`opted_out`, `rate_limited`, `quiet_hours`, ...).
    pub reason: String,
    /// When it was decided, milliseconds since the epoch.
    pub at_ms: i64,
}

/// The notification log key (channel column, recipient column) of a router outcome about
/// `channel` (`None`: the whole request) and `recipient` (`None`: the whole channel).
pub fn router_key(channel: Option<&str>, recipient: Option<&str>) -> (String, String) {
    (
        format!("{ROUTER_PREFIX}{}", channel.unwrap_or(ANY)),
        recipient.unwrap_or(ANY).to_owned(),
    )
}

impl RouterOutcome {
    /// The row this outcome writes; fields a router outcome does not have are left empty.
    pub fn to_write(&self) -> LogWrite {
        let (channel, recipient) = router_key(self.channel.as_deref(), self.recipient.as_deref());
        LogWrite {
            tenant: self.tenant.clone(),
            event_id: self.event_id.clone(),
            channel,
            recipient,
            // `LogWrite` always carries an id; an outcome about no single recipient has none
            delivery_id: self.delivery_id.clone().unwrap_or_default(),
            state: self.state.clone(),
            reason: Some(self.reason.clone()),
            attempts: 0,
            provider: None,
            provider_message_id: None,
            updated_at_ms: self.at_ms,
        }
    }
}

/// Who wrote `entry`, and the entry as a reader should see it: for a router row, the channel
/// without [`ROUTER_PREFIX`] ([`ANY`] for the whole request), recipient [`ANY`] for the whole
/// channel, and no delivery id when it has none.
pub fn origin_of(mut entry: LogEntry) -> (Origin, LogEntry) {
    let Some(channel) = entry.channel.strip_prefix(ROUTER_PREFIX) else {
        return (Origin::Dispatcher, entry);
    };
    entry.channel = channel.to_owned();
    entry.delivery_id = entry.delivery_id.filter(|id| !id.is_empty());
    (Origin::Router, entry)
}

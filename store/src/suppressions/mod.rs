//! The suppression list (`suppressions`): addresses no message may go to. An email address that
//! hard-bounced or whose owner reported spam, a phone number that texted STOP. The ingest gateway
//! adds entries from provider receipts; the router reads them before it sends; operators remove
//! them through the admin API once the cause is fixed.
//!
//! Guarantees: an entry is scoped to one tenant, or to every tenant ([`EVERY_TENANT`]) where the
//! address said no to a sender all tenants share; [`SuppressionList::lookup`] returns every
//! entry of one address in one read, so [`first_applying`] can pick the one for a tenant.
//! Addresses are compared in [`normalize`]d form. Adding an existing entry replaces it (last
//! write wins). Not guaranteed: that a send already in flight when an entry is added is held
//! back (the entry holds from the next routing decision on).

mod cassandra;
pub mod conformance;
mod memory;

use async_trait::async_trait;
use notify_schemas::Channel;

use crate::session::StoreResult;

pub use cassandra::CassandraSuppressions;
pub use memory::MemorySuppressions;

/// The scope of an entry that holds for every tenant.
pub const EVERY_TENANT: &str = "*";

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuppressionReason {
    /// The receiving mail server refused the address for good (a hard bounce).
    Bounced,
    /// The recipient reported a message as spam.
    Complained,
    /// The recipient texted STOP (or another opt-out keyword) to the sender number.
    Stopped,
}

impl SuppressionReason {
    /// Every reason.
    pub const ALL: [SuppressionReason; 3] = [
        SuppressionReason::Bounced,
        SuppressionReason::Complained,
        SuppressionReason::Stopped,
    ];

    /// The stored, lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::Bounced => "bounced",
            SuppressionReason::Complained => "complained",
            SuppressionReason::Stopped => "stopped",
        }
    }

    /// The reason named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// One suppressed address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// The tenant it holds for, or [`EVERY_TENANT`].
    pub scope: String,
    /// The channel of the address (email or SMS).
    pub channel: Channel,
    /// The address, [`normalize`]d.
    pub address: String,
    /// Why.
    pub reason: SuppressionReason,
    /// When it was added, Unix epoch milliseconds.
    pub created_at_ms: i64,
    /// The delivery whose receipt added it, if any.
    pub delivery_id: Option<String>,
}

/// The form addresses are stored and compared in: trimmed, and an email address in lower case
/// (mail providers treat addresses case-insensitively, so a bounce for `Ann@X.org` holds for
/// `ann@x.org`).
pub fn normalize(channel: Channel, address: &str) -> String {
    let address = address.trim();
    match channel {
        Channel::Email => address.to_lowercase(),
        _ => address.to_owned(),
    }
}

/// The entry among `entries` (one address's, from [`SuppressionList::lookup`]) that holds for
/// `tenant`: its own, else one for every tenant.
pub fn first_applying<'a>(entries: &'a [Suppression], tenant: &str) -> Option<&'a Suppression> {
    entries
        .iter()
        .find(|e| e.scope == tenant)
        .or_else(|| entries.iter().find(|e| e.scope == EVERY_TENANT))
}

/// Reads and writes of the suppression list.
#[async_trait]
pub trait SuppressionList: Send + Sync + std::fmt::Debug {
    /// Adds (or replaces) an entry; `entry.address` must be normalized.
    async fn add(&self, entry: &Suppression) -> StoreResult<()>;

    /// Every entry of one address, whatever its scope, in scope order.
    async fn lookup(&self, channel: Channel, address: &str) -> StoreResult<Vec<Suppression>>;

    /// Removes the entry of one scope for one address, if there is one.
    async fn remove(&self, scope: &str, channel: Channel, address: &str) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(scope: &str) -> Suppression {
        Suppression {
            scope: scope.into(),
            channel: Channel::Sms,
            address: "+15550001".into(),
            reason: SuppressionReason::Stopped,
            created_at_ms: 1,
            delivery_id: None,
        }
    }

    #[test]
    fn a_tenant_entry_wins_over_one_for_every_tenant() {
        let entries = [entry(EVERY_TENANT), entry("tn_a")];
        assert_eq!(first_applying(&entries, "tn_a").unwrap().scope, "tn_a");
        assert_eq!(
            first_applying(&entries, "tn_b").unwrap().scope,
            EVERY_TENANT
        );
        assert!(first_applying(&entries[1..], "tn_b").is_none());
    }

    #[test]
    fn email_addresses_compare_without_case_phones_as_given() {
        assert_eq!(
            normalize(Channel::Email, " Ann@Example.ORG "),
            "ann@example.org"
        );
        assert_eq!(normalize(Channel::Sms, " +15550001 "), "+15550001");
        for reason in SuppressionReason::ALL {
            assert_eq!(SuppressionReason::parse(reason.as_str()), Some(reason));
        }
    }
}

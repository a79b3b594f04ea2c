//! The behaviour every [`SuppressionList`] must show, run against
//! [`super::MemorySuppressions`] (unit tests) and [`super::CassandraSuppressions`]
//! (`store/tests/suppressions.rs`, against a real node). Each check uses addresses of its own,
//! so all of them run one after another against one empty list.

use notify_schemas::Channel;

use super::{first_applying, Suppression, SuppressionList, SuppressionReason, EVERY_TENANT};

/// Runs every check, one after another.
pub async fn run_all(list: &dyn SuppressionList) {
    reads_back_what_was_added(list).await;
    scopes_and_channels_are_separate(list).await;
    a_remove_takes_one_scope_only(list).await;
}

/// An entry of `scope` on `address`, added at a fixed time for a delivery named after both.
pub fn entry(
    scope: &str,
    channel: Channel,
    address: &str,
    reason: SuppressionReason,
) -> Suppression {
    Suppression {
        scope: scope.into(),
        channel,
        address: address.into(),
        reason,
        created_at_ms: 1_700_000_000_123,
        delivery_id: Some(format!("d-{scope}-{address}")),
    }
}

async fn reads_back_what_was_added(list: &dyn SuppressionList) {
    let bounced = entry(
        "tn_a",
        Channel::Email,
        "read@example.org",
        SuppressionReason::Bounced,
    );
    list.add(&bounced).await.expect("add");
    assert_eq!(
        list.lookup(Channel::Email, "read@example.org")
            .await
            .expect("lookup"),
        vec![bounced.clone()]
    );
    let complained = Suppression {
        reason: SuppressionReason::Complained,
        delivery_id: None,
        ..bounced
    };
    list.add(&complained).await.expect("replace");
    assert_eq!(
        list.lookup(Channel::Email, "read@example.org")
            .await
            .expect("lookup"),
        vec![complained],
        "adding again replaces the entry"
    );
    assert!(list
        .lookup(Channel::Email, "unknown@example.org")
        .await
        .expect("lookup")
        .is_empty());
}

async fn scopes_and_channels_are_separate(list: &dyn SuppressionList) {
    let phone = "+15550100";
    let everyone = entry(
        EVERY_TENANT,
        Channel::Sms,
        phone,
        SuppressionReason::Stopped,
    );
    let own = entry("tn_b", Channel::Sms, phone, SuppressionReason::Stopped);
    list.add(&everyone).await.expect("add");
    list.add(&own).await.expect("add");
    let found = list.lookup(Channel::Sms, phone).await.expect("lookup");
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(first_applying(&found, "tn_b"), Some(&own));
    assert_eq!(first_applying(&found, "tn_c"), Some(&everyone));
    assert!(
        list.lookup(Channel::Email, phone)
            .await
            .expect("lookup")
            .is_empty(),
        "an SMS entry does not hold for email"
    );
}

async fn a_remove_takes_one_scope_only(list: &dyn SuppressionList) {
    let address = "remove@example.org";
    list.add(&entry(
        "tn_d",
        Channel::Email,
        address,
        SuppressionReason::Bounced,
    ))
    .await
    .expect("add");
    let other = entry("tn_e", Channel::Email, address, SuppressionReason::Bounced);
    list.add(&other).await.expect("add");
    list.remove("tn_d", Channel::Email, address)
        .await
        .expect("remove");
    list.remove("tn_d", Channel::Email, address)
        .await
        .expect("removing what is gone is fine");
    assert_eq!(
        list.lookup(Channel::Email, address).await.expect("lookup"),
        vec![other]
    );
}

//! What the plan holds back on purpose: a user's opt-outs (global, per category and channel,
//! and when a critical category bypasses them) and addresses on the suppression list.

use notify_schemas::{Channel, Recipient};
use notify_store::suppressions::{Suppression, SuppressionReason, EVERY_TENANT};

use super::plan::{channels_of, reasons, Case};
use super::*;
use crate::plan::Reason;

#[test]
fn global_opt_out_suppresses_every_recipient() {
    let mut case = Case::new(&[]);
    case.user.as_mut().unwrap().opted_out = true;
    case.devices = vec![apns("a1"), apns("a2")];
    let (targets, suppressed) = case.route();
    assert!(targets.is_empty());
    assert_eq!(
        reasons(&suppressed),
        [
            (Some(Channel::Apns), Reason::OptedOut),
            (Some(Channel::Apns), Reason::OptedOut),
            (Some(Channel::Sms), Reason::OptedOut),
            (Some(Channel::Email), Reason::OptedOut),
        ]
    );
    // one outcome per recipient, each with its recipient, so each has a delivery id
    let keys: Vec<&str> = suppressed
        .iter()
        .map(|s| s.recipient.as_ref().map_or("", |r| r.key()))
        .collect();
    assert_eq!(keys, ["a1", "a2", "+821012345678", "kim@example.com"]);
}

#[test]
fn a_disabled_preference_suppresses_that_channel_only() {
    let mut case = Case::new(&[Channel::Sms, Channel::Email]);
    case.preferences = vec![
        preference("orders", Channel::Sms, false),
        preference("orders", Channel::Email, true),
        preference("marketing", Channel::Email, false),
    ];
    let (targets, suppressed) = case.route();
    assert_eq!(channels_of(&targets), [Channel::Email]);
    assert_eq!(
        reasons(&suppressed),
        [(Some(Channel::Sms), Reason::OptedOut)]
    );
    assert_eq!(
        suppressed[0].recipient.as_ref().map(Recipient::key),
        Some("+821012345678")
    );
}

#[test]
fn critical_category_bypasses_opt_out_only_where_the_tenant_allows() {
    let mut case = Case::new(&[Channel::Sms, Channel::Email]);
    case.user.as_mut().unwrap().opted_out = true;
    case.preferences = vec![preference("orders", Channel::Sms, false)];
    case.category = Some(category(true));

    case.bypass_allowed = true;
    let (targets, suppressed) = case.route();
    assert_eq!(channels_of(&targets), [Channel::Sms, Channel::Email]);
    assert!(suppressed.is_empty());

    case.bypass_allowed = false;
    let (targets, suppressed) = case.route();
    assert!(targets.is_empty());
    assert_eq!(suppressed.len(), 2);

    // the tenant allows it but the category is not critical
    case.bypass_allowed = true;
    case.category = Some(category(false));
    let (targets, _) = case.route();
    assert!(targets.is_empty());
    // an unknown category is not critical either
    case.category = None;
    let (targets, _) = case.route();
    assert!(targets.is_empty());
}

#[test]
fn critical_priority_alone_bypasses_nothing() {
    let mut case = Case::new(&[Channel::Sms]);
    case.request.priority = notify_schemas::Priority::Critical;
    case.bypass_allowed = true;
    case.assert_opted_out_of_sms();
}

fn listed(channel: Channel, address: &str, reason: SuppressionReason) -> Suppression {
    Suppression {
        scope: EVERY_TENANT.into(),
        channel,
        address: address.into(),
        reason,
        created_at_ms: 0,
        delivery_id: None,
    }
}

#[test]
fn listed_addresses_are_suppressed_even_for_critical_categories() {
    let mut case = Case::new(&[Channel::Sms, Channel::Email, Channel::Apns]);
    case.devices = vec![apns("a1")];
    // the entry is stored normalized; the user's address is in mixed case
    case.user.as_mut().unwrap().email = Some("Kim@Example.com".into());
    case.suppressions = vec![
        listed(
            Channel::Email,
            "kim@example.com",
            SuppressionReason::Bounced,
        ),
        listed(Channel::Sms, "+821012345678", SuppressionReason::Stopped),
    ];
    case.category = Some(category(true));
    case.bypass_allowed = true;
    let (targets, suppressed) = case.route();
    assert_eq!(
        targets.iter().map(|t| t.channel).collect::<Vec<_>>(),
        [Channel::Apns]
    );
    assert_eq!(
        reasons(&suppressed),
        [
            (Some(Channel::Sms), Reason::OptedOut),
            (Some(Channel::Email), Reason::Bounced)
        ]
    );
    case.suppressions[0].reason = SuppressionReason::Complained;
    assert_eq!(case.route().1[1].reason, Reason::Complained);
    // an entry for another channel's address holds nothing back
    case.suppressions = vec![listed(
        Channel::Sms,
        "kim@example.com",
        SuppressionReason::Bounced,
    )];
    assert_eq!(case.route().0.len(), 3);
}

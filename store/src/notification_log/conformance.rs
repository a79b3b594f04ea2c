//! The behaviour every [`DeliveryLog`] must show, written once and run against
//! [`super::MemoryLog`] (unit tests) and [`super::CassandraLog`]
//! (`store/tests/notification_log.rs`, against a real node), so the fake cannot drift from
//! the real thing. Each check panics on the first deviation.
//!
//! Every check works in tenants of its own (`<check>-a`, `<check>-b`), so all of them can run
//! one after another against one empty log; [`run_all`] does that.

use super::{DeliveryLog, LogEntry, LogWrite};

/// Runs every check, one after another.
pub async fn run_all(log: &dyn DeliveryLog) {
    reads_back_what_was_written(log).await;
    a_write_replaces_the_row(log).await;
    tenants_do_not_see_each_other(log).await;
    entries_are_one_event_in_order(log).await;
}

/// A write as the dispatchers make it, with every optional field set.
pub fn write(
    tenant: &str,
    event_id: &str,
    channel: &str,
    recipient: &str,
    state: &str,
) -> LogWrite {
    LogWrite {
        tenant: tenant.into(),
        event_id: event_id.into(),
        channel: channel.into(),
        recipient: recipient.into(),
        delivery_id: format!("d-{event_id}-{channel}-{recipient}"),
        state: state.into(),
        reason: Some(format!("because {state}")),
        attempts: 2,
        provider: Some("sim".into()),
        provider_message_id: Some(format!("pm-{recipient}")),
        updated_at_ms: 1_700_000_000_123,
    }
}

/// A row reads back with every field as written; a row never written reads as `None`.
pub async fn reads_back_what_was_written(log: &dyn DeliveryLog) {
    let w = write("read-a", "e1", "apns", "tok-1", "sent");
    assert_eq!(
        log.get("read-a", "e1", "apns", "tok-1").await.expect("get"),
        None
    );
    log.put(&w).await.expect("put");
    let read = log.get("read-a", "e1", "apns", "tok-1").await.expect("get");
    assert_eq!(read, Some(LogEntry::from(w.clone())));
    let other_recipient = log.get("read-a", "e1", "apns", "tok-2").await.expect("get");
    assert_eq!(other_recipient, None, "rows are per recipient");
    let other_channel = log.get("read-a", "e1", "fcm", "tok-1").await.expect("get");
    assert_eq!(other_channel, None, "rows are per channel");
}

/// A second write of one row replaces it, including optional fields it clears.
pub async fn a_write_replaces_the_row(log: &dyn DeliveryLog) {
    log.put(&write("replace-a", "e1", "sms", "+15550100", "retrying"))
        .await
        .expect("put");
    let last = LogWrite {
        reason: None,
        provider_message_id: None,
        attempts: 3,
        updated_at_ms: 1_700_000_009_000,
        ..write("replace-a", "e1", "sms", "+15550100", "sent")
    };
    log.put(&last).await.expect("put again");
    let read = log
        .get("replace-a", "e1", "sms", "+15550100")
        .await
        .expect("get");
    assert_eq!(read, Some(LogEntry::from(last)));
    let all = log.entries("replace-a", "e1").await.expect("entries");
    assert_eq!(all.len(), 1, "one row per (channel, recipient): {all:?}");
}

/// The same event id in two tenants is two events.
pub async fn tenants_do_not_see_each_other(log: &dyn DeliveryLog) {
    log.put(&write(
        "isolation-a",
        "shared",
        "email",
        "a@example.com",
        "sent",
    ))
    .await
    .expect("put");
    let read = log
        .get("isolation-b", "shared", "email", "a@example.com")
        .await
        .expect("get");
    assert_eq!(read, None);
    let entries = log.entries("isolation-b", "shared").await.expect("entries");
    assert!(entries.is_empty(), "{entries:?}");
}

/// `entries` lists every row of one event, in (channel, recipient) order, and nothing else.
pub async fn entries_are_one_event_in_order(log: &dyn DeliveryLog) {
    assert!(log
        .entries("entries-a", "e1")
        .await
        .expect("entries")
        .is_empty());
    let rows = [
        write("entries-a", "e1", "sms", "+15550102", "sent"),
        write("entries-a", "e1", "apns", "tok-2", "failed"),
        write("entries-a", "e1", "sms", "+15550101", "retrying"),
        write("entries-a", "e1", "apns", "tok-1", "sent"),
    ];
    for row in &rows {
        log.put(row).await.expect("put");
    }
    log.put(&write("entries-a", "e2", "apns", "tok-0", "sent"))
        .await
        .expect("put another event");
    let entries = log.entries("entries-a", "e1").await.expect("entries");
    let keys: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.channel.as_str(), e.recipient.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("apns", "tok-1"),
            ("apns", "tok-2"),
            ("sms", "+15550101"),
            ("sms", "+15550102")
        ]
    );
    assert_eq!(entries[1], LogEntry::from(rows[1].clone()));
}

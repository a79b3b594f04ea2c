//! The behaviour every [`DeliveryLog`] must show, written once and run against
//! [`super::MemoryLog`] (unit tests) and [`super::CassandraLog`]
//! (`store/tests/notification_log.rs`, against a real node), so the fake cannot drift from
//! the real thing. Each check panics on the first deviation.
//!
//! Every check works in tenants of its own (`<check>-a`, `<check>-b`), so all of them can run
//! one after another against one empty log; [`run_all`] does that.

use super::outcome::{origin_of, router_key, Origin, RouterOutcome, ANY};
use super::{DeliveryLog, LogEntry, LogKey, LogWrite};

/// Runs every check, one after another.
pub async fn run_all(log: &dyn DeliveryLog) {
    reads_back_what_was_written(log).await;
    a_write_replaces_the_row(log).await;
    tenants_do_not_see_each_other(log).await;
    entries_are_one_event_in_order(log).await;
    a_delete_removes_one_row_only(log).await;
    router_outcomes_never_meet_delivery_rows(log).await;
    many_rows_in_one_call(log).await;
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
        log.get(&LogKey::new("read-a", "e1", "apns", "tok-1"))
            .await
            .expect("get"),
        None
    );
    log.put(&w).await.expect("put");
    let read = log
        .get(&LogKey::new("read-a", "e1", "apns", "tok-1"))
        .await
        .expect("get");
    assert_eq!(read, Some(LogEntry::from(w.clone())));
    let other_recipient = log
        .get(&LogKey::new("read-a", "e1", "apns", "tok-2"))
        .await
        .expect("get");
    assert_eq!(other_recipient, None, "rows are per recipient");
    let other_channel = log
        .get(&LogKey::new("read-a", "e1", "fcm", "tok-1"))
        .await
        .expect("get");
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
        .get(&LogKey::new("replace-a", "e1", "sms", "+15550100"))
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
        .get(&LogKey::new(
            "isolation-b",
            "shared",
            "email",
            "a@example.com",
        ))
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

/// `delete` removes exactly the row it names; deleting a row that is not there is no error.
pub async fn a_delete_removes_one_row_only(log: &dyn DeliveryLog) {
    log.put(&write("delete-a", "e1", "sms", "+15550100", "sent"))
        .await
        .expect("put");
    log.put(&write("delete-a", "e1", "sms", "+15550101", "sent"))
        .await
        .expect("put");
    log.delete(&LogKey::new("delete-a", "e1", "sms", "+15550100"))
        .await
        .expect("delete");
    log.delete(&LogKey::new("delete-a", "e1", "sms", "+15550199"))
        .await
        .expect("delete of a row never written");
    let left: Vec<String> = log
        .entries("delete-a", "e1")
        .await
        .expect("entries")
        .into_iter()
        .map(|e| e.recipient)
        .collect();
    assert_eq!(left, ["+15550101"]);
}

/// A router outcome for the very recipient a dispatcher wrote about is a row of its own: the
/// dispatcher's row reads back unchanged, both are listed, and removing the router's leaves it.
pub async fn router_outcomes_never_meet_delivery_rows(log: &dyn DeliveryLog) {
    let delivered = write("router-a", "e1", "sms", "+15550100", "sent");
    log.put(&delivered).await.expect("put delivery row");
    let outcome = |channel: Option<&str>, recipient: Option<&str>, state: &str| RouterOutcome {
        tenant: "router-a".into(),
        event_id: "e1".into(),
        channel: channel.map(str::to_owned),
        recipient: recipient.map(str::to_owned),
        delivery_id: recipient.map(|r| format!("d-{r}")),
        state: state.into(),
        reason: format!("because {state}"),
        at_ms: 1_700_000_000_500,
    };
    let rows = [
        outcome(Some("sms"), Some("+15550100"), "suppressed"),
        outcome(Some("sms"), None, "scheduled"),
        outcome(None, None, "expired"),
    ];
    for row in &rows {
        log.put(&row.to_write()).await.expect("put router row");
    }
    let read = log
        .get(&LogKey::new("router-a", "e1", "sms", "+15550100"))
        .await
        .expect("get");
    assert_eq!(read, Some(LogEntry::from(delivered.clone())));

    let seen: Vec<(Origin, LogEntry)> = log
        .entries("router-a", "e1")
        .await
        .expect("entries")
        .into_iter()
        .map(origin_of)
        .collect();
    let view = |(origin, e): &(Origin, LogEntry)| {
        (
            *origin,
            e.channel.clone(),
            e.recipient.clone(),
            e.state.clone().unwrap_or_default(),
            e.delivery_id.clone(),
        )
    };
    let mut seen: Vec<_> = seen.iter().map(view).collect();
    seen.sort();
    let any = ANY.to_owned();
    assert_eq!(
        seen,
        [
            (
                Origin::Router,
                any.clone(),
                any.clone(),
                "expired".to_owned(),
                None
            ),
            (
                Origin::Router,
                "sms".to_owned(),
                any,
                "scheduled".to_owned(),
                None
            ),
            (
                Origin::Router,
                "sms".to_owned(),
                "+15550100".to_owned(),
                "suppressed".to_owned(),
                Some("d-+15550100".to_owned())
            ),
            (
                Origin::Dispatcher,
                "sms".to_owned(),
                "+15550100".to_owned(),
                "sent".to_owned(),
                Some(delivered.delivery_id.clone())
            ),
        ]
    );

    let (channel, recipient) = router_key(Some("sms"), Some("+15550100"));
    log.delete(&LogKey::new("router-a", "e1", &channel, &recipient))
        .await
        .expect("delete router row");
    let read = log
        .get(&LogKey::new("router-a", "e1", "sms", "+15550100"))
        .await
        .expect("get");
    assert_eq!(read, Some(LogEntry::from(delivered)), "delivery row kept");
    assert_eq!(
        log.entries("router-a", "e1").await.expect("entries").len(),
        3
    );
}

/// `put_many` writes every row it is given and `get_many` answers each key in the order
/// asked, across tenants, channels and events, with `None` for a row never written and the
/// same answer for a key asked twice; a row of another recipient, channel or tenant is never
/// taken for the one asked.
pub async fn many_rows_in_one_call(log: &dyn DeliveryLog) {
    let rows = [
        write("many-a", "e1", "sms", "+15550101", "sent"),
        write("many-a", "e1", "sms", "+15550102", "retrying"),
        write("many-a", "e2", "sms", "+15550101", "failed"),
        write("many-a", "e1", "email", "a@example.com", "sent"),
        write("many-b", "e1", "sms", "+15550101", "expired"),
    ];
    log.put_many(&rows).await.expect("put_many");
    log.put_many(&[]).await.expect("put_many of nothing");
    let key = LogKey::new;
    let asked = [
        key("many-b", "e1", "sms", "+15550101"),
        key("many-a", "e2", "sms", "+15550101"),
        key("many-a", "e1", "sms", "+15550103"),
        key("many-a", "e1", "sms", "+15550101"),
        key("many-a", "e1", "email", "a@example.com"),
        key("many-a", "e3", "sms", "+15550101"),
        key("many-a", "e2", "email", "+15550101"),
        key("many-c", "e1", "sms", "+15550101"),
        key("many-a", "e1", "sms", "+15550101"),
    ];
    let read = log.get_many(&asked).await.expect("get_many");
    let entry = |i: usize| Some(LogEntry::from(rows[i].clone()));
    let expected = [
        entry(4),
        entry(2),
        None,
        entry(0),
        entry(3),
        None,
        None,
        None,
        entry(0),
    ];
    assert_eq!(read, expected);
    assert!(log
        .get_many(&[])
        .await
        .expect("get_many of nothing")
        .is_empty());
    for row in &rows {
        let one = log
            .get(&LogKey::new(
                &row.tenant,
                &row.event_id,
                &row.channel,
                &row.recipient,
            ))
            .await
            .expect("get");
        assert_eq!(one, Some(LogEntry::from(row.clone())), "{row:?}");
    }
}

//! The scheduler's settings, shard order and header, and one sweep against an in-memory
//! publisher. Sweeps against a Kafka broker (the librdkafka mock cluster and the real stack)
//! are in `router/tests/scheduler/`.

use std::sync::Arc;
use std::time::Duration;

use notify_common::clock::ManualClock;
use notify_common::publish::MemoryPublisher;
use notify_store::schedule::{MemorySchedule, Schedule, ScheduledItem, SHARDS};
use rdkafka::message::{Header, OwnedHeaders};
use tokio_util::sync::CancellationToken;

use super::*;

const TOPIC: &str = "t.requests";

fn item(n: usize, due_at_ms: i64) -> ScheduledItem {
    ScheduledItem {
        tenant: "tn".into(),
        event_id: format!("evt-{n}"),
        routing_key: format!("tn:user-{}", n % 7),
        due_at_ms,
        reason: "send_at".into(),
        payload: format!("request {n}").into_bytes(),
    }
}

fn scheduler(
    schedule: Arc<dyn Schedule>,
    publisher: Arc<MemoryPublisher>,
    owner: &str,
) -> Scheduler {
    let mut scheduler = Scheduler::new(schedule, publisher, TOPIC, owner);
    scheduler.produce_timeout = Duration::from_secs(1);
    scheduler.lease = Duration::from_secs(2);
    scheduler
}

#[test]
fn settings_that_cannot_work_are_refused() {
    let schedule: Arc<dyn Schedule> = Arc::new(MemorySchedule::new());
    let publisher = Arc::new(MemoryPublisher::new());
    let mut short_lease = scheduler(Arc::clone(&schedule), publisher.clone(), "a");
    short_lease.lease = short_lease.produce_timeout;
    assert!(short_lease.validate().is_err());
    let mut bad_shards = scheduler(Arc::clone(&schedule), publisher.clone(), "a");
    bad_shards.shards = 0..SHARDS + 1;
    assert!(bad_shards.validate().is_err());
    assert!(scheduler(schedule, publisher, "a").validate().is_ok());
}

#[test]
fn every_shard_is_swept_once_starting_where_the_owner_hashes() {
    let schedule: Arc<dyn Schedule> = Arc::new(MemorySchedule::new());
    let publisher = Arc::new(MemoryPublisher::new());
    let mut starts = std::collections::HashSet::new();
    for owner in ["a", "b", "c", "d", "e", "f"] {
        let mut scheduler = scheduler(Arc::clone(&schedule), publisher.clone(), owner);
        scheduler.shards = 3..11;
        let order: Vec<u16> = scheduler.shard_order().collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (3..11).collect::<Vec<_>>(), "{owner}: {order:?}");
        starts.insert(order[0]);
    }
    assert!(starts.len() > 1, "owners start on different shards");
}

#[test]
fn the_header_round_trips() {
    let headers = OwnedHeaders::new().insert(Header {
        key: DEFERRED_UNTIL_HEADER,
        value: Some("1700000000123".as_bytes()),
    });
    assert_eq!(deferred_until_ms(&headers), Some(1_700_000_000_123));
    let garbage = OwnedHeaders::new().insert(Header {
        key: DEFERRED_UNTIL_HEADER,
        value: Some("soon".as_bytes()),
    });
    assert_eq!(deferred_until_ms(&garbage), None);
    assert_eq!(deferred_until_ms(&OwnedHeaders::new()), None);
}

#[tokio::test]
async fn a_sweep_publishes_due_rows_with_their_header_and_deletes_only_acknowledged_ones() {
    let schedule = Arc::new(MemorySchedule::new());
    let publisher = Arc::new(MemoryPublisher::new());
    // the schedule stores rows far overdue as due now, so "now" is the wall clock's
    let now = notify_common::clock::now_ms();
    schedule.defer(&item(1, now - 1_000)).await.expect("defer");
    schedule.defer(&item(2, now + 60_000)).await.expect("defer");
    let mut scheduler = scheduler(schedule.clone(), publisher.clone(), "a");
    scheduler.lease = Duration::from_secs(1);
    scheduler.clock = Arc::new(ManualClock::new(now));
    let cancel = CancellationToken::new();

    // the broker refuses: nothing is deleted
    publisher.fail_next(1);
    assert!(scheduler.sweep(&cancel).await.is_err());
    assert_eq!(schedule.len(), 2, "an unacknowledged row stays");
    assert!(publisher.records().is_empty());

    // the claim of the failed attempt runs out before the row is tried again
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let report = scheduler.sweep(&cancel).await.expect("sweep");
    assert_eq!(report.reemitted, 1);
    let records = publisher.to_topic(TOPIC);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key_str(), "tn:user-1", "original key kept");
    assert_eq!(records[0].payload, b"request 1");
    let due = (now - 1_000).to_string();
    assert_eq!(
        records[0].header_value(DEFERRED_UNTIL_HEADER),
        Some(due.as_str())
    );
    assert_eq!(schedule.len(), 1, "the future row waits");
}

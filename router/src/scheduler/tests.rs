//! The scheduler's settings, shard order and header. Sweeps (against an in-memory publisher,
//! the librdkafka mock cluster and the real stack) are in `router/tests/scheduler/`.

use std::sync::Arc;
use std::time::Duration;

use notify_common::publish::MemoryPublisher;
use notify_store::schedule::{MemorySchedule, Schedule, SHARDS};
use rdkafka::message::{Header, OwnedHeaders};

use super::*;

const TOPIC: &str = "t.requests";

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

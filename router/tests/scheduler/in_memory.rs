//! A scheduler publishing to an in-memory publisher: a row is deleted only once its record
//! was acknowledged, and a refused publish leaves it for a later sweep.

use std::sync::Arc;
use std::time::Duration;

use notify_common::clock::now_ms;
use notify_common::publish::MemoryPublisher;
use notify_router::scheduler::{Scheduler, DEFERRED_UNTIL_HEADER};
use notify_store::schedule::{MemorySchedule, Schedule};
use tokio_util::sync::CancellationToken;

use crate::item;

const TOPIC: &str = "t.requests";

/// Waits up to `limit` for `done`.
async fn eventually(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[tokio::test]
async fn a_row_is_deleted_only_after_its_record_is_acknowledged() {
    let schedule = Arc::new(MemorySchedule::new());
    let publisher = Arc::new(MemoryPublisher::new());
    let now = now_ms();
    schedule.defer(&item(1, now - 1_000)).await.expect("defer");
    schedule
        .defer(&item(2, now + 3_600_000))
        .await
        .expect("defer");
    let mut scheduler = Scheduler::new(schedule.clone(), publisher.clone(), TOPIC, "a");
    scheduler.poll_interval = Duration::from_millis(50);
    scheduler.max_backoff = Duration::from_millis(100);
    scheduler.produce_timeout = Duration::from_millis(500);
    scheduler.lease = Duration::from_secs(1);

    // the broker refuses everything for a while: the row stays
    publisher.fail_next(usize::MAX);
    let cancel = CancellationToken::new();
    let run = tokio::spawn(scheduler.run(cancel.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(schedule.len(), 2, "an unacknowledged row stays");
    assert!(publisher.records().is_empty());

    // the broker is back: once the failed attempt's claim ran out the row goes out, once
    publisher.fail_next(0);
    assert!(
        eventually(Duration::from_secs(5), || schedule.len() == 1).await,
        "the due row completed"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    cancel.cancel();
    run.await.expect("task").expect("run");

    let records = publisher.to_topic(TOPIC);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].key_str(), "tn:user-1", "original key kept");
    assert_eq!(records[0].payload, b"request 1");
    let due = (now - 1_000).to_string();
    assert_eq!(
        records[0].header_value(DEFERRED_UNTIL_HEADER),
        Some(due.as_str()),
        "due time in the header"
    );
}

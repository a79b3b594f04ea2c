//! The schedule's scenarios, against the in-memory fake and against a real Cassandra node
//! (`NOTIFY_IT_CASSANDRA`, default 127.0.0.1:9042) in a keyspace of its own that the test
//! migrates and drops, so the two cannot drift apart.
//!
//! Every scenario uses tenants of its own and looks only at their rows, so they can share one
//! schedule. `now` passed to `due` is never ahead of the wall clock, as in production: the
//! watermark protocol assumes the sweeper's clock is the real one.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use notify_common::clock::now_ms;
use notify_store::schedule::{
    shard_of, CassandraSchedule, MemorySchedule, Schedule, ScheduledItem, SHARDS,
};

const LIMIT: usize = 10_000;

fn unique_tenant() -> String {
    format!("tn_{}", &uuid::Uuid::new_v4().simple().to_string()[..20])
}

fn item(tenant: &str, event_id: &str, due_at_ms: i64) -> ScheduledItem {
    ScheduledItem {
        tenant: tenant.to_owned(),
        event_id: event_id.to_owned(),
        routing_key: format!("{tenant}:user-1"),
        due_at_ms,
        reason: "send_at".into(),
        payload: format!("payload of {event_id}").into_bytes(),
    }
}

/// An event id of `tenant` whose row lands in `shard`.
fn event_in_shard(tenant: &str, shard: u16, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .find(|event| shard_of(tenant, event) == shard)
        .expect("some id hashes to every shard")
}

/// Every due row of `tenant`, over all shards.
async fn due_of(schedule: &dyn Schedule, tenant: &str, now: i64) -> Vec<ScheduledItem> {
    let mut found = Vec::new();
    for shard in 0..SHARDS {
        let rows = schedule.due(now, shard, LIMIT).await.expect("due");
        found.extend(rows.into_iter().filter(|i| i.tenant == tenant));
    }
    found
}

async fn complete_all(schedule: &dyn Schedule, items: &[ScheduledItem]) {
    for item in items {
        schedule.complete(item).await.expect("complete");
    }
}

/// The same event deferred twice is one row; the same event id of another tenant is another.
async fn defer_is_idempotent(schedule: &dyn Schedule) {
    let tenant = unique_tenant();
    let other = unique_tenant();
    let now = now_ms();
    let first = item(&tenant, "evt-1", now - 5_000);
    schedule.defer(&first).await.expect("defer");
    schedule.defer(&first).await.expect("defer again");
    let found = due_of(schedule, &tenant, now_ms()).await;
    assert_eq!(found, vec![first.clone()]);

    let theirs = item(&other, "evt-1", now - 5_000);
    schedule.defer(&theirs).await.expect("defer other tenant");
    assert_eq!(
        due_of(schedule, &tenant, now_ms()).await,
        vec![first.clone()]
    );
    assert_eq!(
        due_of(schedule, &other, now_ms()).await,
        vec![theirs.clone()]
    );
    complete_all(schedule, &[first, theirs]).await;
}

/// `due` returns what is due and nothing that is not, then the rest once its time came.
async fn due_finds_only_due_items(schedule: &dyn Schedule) {
    let tenant = unique_tenant();
    let now = now_ms();
    let past = item(&tenant, "past", now - 10_000);
    let soon = item(&tenant, "soon", now + 2_500);
    let later = item(&tenant, "later", now + 3_600_000);
    for i in [&later, &soon, &past] {
        schedule.defer(i).await.expect("defer");
    }
    assert_eq!(
        due_of(schedule, &tenant, now_ms()).await,
        vec![past.clone()]
    );

    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let mut found = due_of(schedule, &tenant, now_ms()).await;
    found.sort_by_key(|i| i.due_at_ms);
    assert_eq!(found, vec![past.clone(), soon.clone()]);

    // `limit` bounds one call, oldest first.
    let shard = past.shard();
    let extra: Vec<ScheduledItem> = (0..3)
        .map(|n| {
            let event = event_in_shard(&tenant, shard, &format!("extra{n}"));
            item(&tenant, &event, now - 20_000 + n)
        })
        .collect();
    for i in &extra {
        schedule.defer(i).await.expect("defer");
    }
    let mut mine = schedule
        .due(now_ms(), shard, LIMIT)
        .await
        .expect("due")
        .into_iter()
        .filter(|i| i.tenant == tenant);
    assert_eq!(mine.next().as_ref(), Some(&extra[0]), "oldest first");
    complete_all(schedule, &[past, soon, later]).await;
    complete_all(schedule, &extra).await;
}

/// Eight racing claims of one row: exactly one wins.
async fn one_of_eight_concurrent_claims_wins(schedule: Arc<dyn Schedule>) {
    let tenant = unique_tenant();
    let contested = item(&tenant, "contested", now_ms() - 1_000);
    schedule.defer(&contested).await.expect("defer");
    let claims = (0..8).map(|n| {
        let schedule = Arc::clone(&schedule);
        let contested = contested.clone();
        tokio::spawn(async move {
            schedule
                .claim(&contested, &format!("owner-{n}"), Duration::from_secs(60))
                .await
        })
    });
    let mut winners = 0;
    for claim in futures::future::join_all(claims).await {
        if claim.expect("task").expect("claim") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    // And later claimers lose too while the lease runs.
    assert!(!schedule
        .claim(&contested, "owner-late", Duration::from_secs(60))
        .await
        .expect("claim"));
    schedule.complete(&contested).await.expect("complete");
}

/// A claim whose owner never completed runs out with its lease; a completed row is gone for
/// good and cannot be claimed again, even after the lease.
async fn expired_leases_and_completed_rows(schedule: &dyn Schedule) {
    let tenant = unique_tenant();
    let now = now_ms();
    let abandoned = item(&tenant, "abandoned", now - 1_000);
    let finished = item(&tenant, "finished", now - 1_000);
    for i in [&abandoned, &finished] {
        schedule.defer(i).await.expect("defer");
    }
    let lease = Duration::from_secs(1);
    assert!(schedule
        .claim(&abandoned, "dead", lease)
        .await
        .expect("claim"));
    assert!(!schedule
        .claim(&abandoned, "alive", lease)
        .await
        .expect("claim"));
    assert!(schedule
        .claim(&finished, "worker", lease)
        .await
        .expect("claim"));
    schedule.complete(&finished).await.expect("complete");
    schedule
        .complete(&finished)
        .await
        .expect("complete is idempotent");
    assert_eq!(
        due_of(schedule, &tenant, now_ms()).await,
        vec![abandoned.clone()],
        "complete removes the row, the abandoned one stays"
    );

    // Cassandra expires TTLs at whole seconds.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert!(schedule
        .claim(&abandoned, "alive", Duration::from_secs(60))
        .await
        .expect("claim after the lease"));
    assert!(!schedule
        .claim(&finished, "late", Duration::from_secs(60))
        .await
        .expect("claim of a completed row"));
    schedule.complete(&abandoned).await.expect("complete");
    assert!(due_of(schedule, &tenant, now_ms()).await.is_empty());
}

/// A row deferred into a stretch the sweep already moved past is still found.
async fn a_row_behind_the_watermark_is_found(
    schedule: &dyn Schedule,
    watermark: &(dyn Fn(u16) -> BoxFuture<'static, Option<i64>> + Sync),
) {
    let tenant = unique_tenant();
    let shard = 5;
    // Sweep the shard so its watermark exists and sits behind now.
    schedule.due(now_ms(), shard, LIMIT).await.expect("due");
    let swept = watermark(shard).await.expect("a sweep sets the watermark");

    let event = event_in_shard(&tenant, shard, "behind");
    let behind = item(&tenant, &event, swept - 5 * 60_000);
    schedule.defer(&behind).await.expect("defer");
    assert!(
        watermark(shard).await.expect("watermark") <= behind.due_at_ms,
        "a late defer lowers the watermark"
    );
    let found = due_of(schedule, &tenant, now_ms()).await;
    assert_eq!(found, vec![behind.clone()]);
    complete_all(schedule, &found).await;
}

/// A defer overdue by a day is stored as due now instead of dragging the watermark a day back.
async fn a_long_overdue_defer_is_due_now(schedule: &dyn Schedule) {
    let tenant = unique_tenant();
    let before = now_ms();
    let overdue = item(&tenant, "overdue", before - 24 * 3_600_000);
    schedule.defer(&overdue).await.expect("defer");
    let found = due_of(schedule, &tenant, now_ms()).await;
    assert_eq!(found.len(), 1);
    assert!(found[0].due_at_ms >= before, "stored as due now");
    assert_eq!(found[0].payload, overdue.payload);
    complete_all(schedule, &found).await;
}

/// Late defers race sweeps that claim and complete: every row is completed exactly once and
/// none is left behind a watermark.
async fn late_defers_racing_sweeps_are_never_lost(schedule: Arc<dyn Schedule>) {
    const ITEMS: usize = 60;
    let tenant = unique_tenant();
    let shard = 9;
    let events: Vec<String> = (0..ITEMS)
        .map(|n| event_in_shard(&tenant, shard, &format!("race{n}")))
        .collect();
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    let sweeper = {
        let schedule = Arc::clone(&schedule);
        let tenant = tenant.clone();
        let done = Arc::clone(&done);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut completed = HashSet::new();
            while !stop.load(Ordering::Acquire) {
                let rows = schedule.due(now_ms(), shard, LIMIT).await.expect("due");
                for row in rows.into_iter().filter(|i| i.tenant == tenant) {
                    if schedule
                        .claim(&row, "sweeper", Duration::from_secs(60))
                        .await
                        .expect("claim")
                    {
                        schedule.complete(&row).await.expect("complete");
                        assert!(completed.insert(row.event_id.clone()), "completed twice");
                        done.fetch_add(1, Ordering::AcqRel);
                    }
                }
                tokio::task::yield_now().await;
            }
            completed
        })
    };

    let writers = events.chunks(ITEMS / 4).map(|chunk| {
        let schedule = Arc::clone(&schedule);
        let tenant = tenant.clone();
        let chunk = chunk.to_vec();
        tokio::spawn(async move {
            for (n, event) in chunk.iter().enumerate() {
                // Due one to five minutes ago: every one of them is late.
                let due = now_ms() - 60_000 - i64::try_from(n).expect("small") * 4_000;
                let late = item(&tenant, event, due);
                // A defer may give up under contention; the router would retry it.
                let mut attempts = 0;
                while let Err(err) = schedule.defer(&late).await {
                    attempts += 1;
                    assert!(attempts < 5, "defer kept failing: {err}");
                }
            }
        })
    });
    for writer in futures::future::join_all(writers).await {
        writer.expect("writer");
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while done.load(Ordering::Acquire) < ITEMS && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Release);
    let completed = sweeper.await.expect("sweeper");
    assert_eq!(completed.len(), ITEMS, "every late row found and completed");
    assert!(due_of(schedule.as_ref(), &tenant, now_ms())
        .await
        .is_empty());
}

async fn run_all(
    schedule: Arc<dyn Schedule>,
    watermark: &(dyn Fn(u16) -> BoxFuture<'static, Option<i64>> + Sync),
) {
    defer_is_idempotent(schedule.as_ref()).await;
    due_finds_only_due_items(schedule.as_ref()).await;
    one_of_eight_concurrent_claims_wins(Arc::clone(&schedule)).await;
    expired_leases_and_completed_rows(schedule.as_ref()).await;
    a_row_behind_the_watermark_is_found(schedule.as_ref(), watermark).await;
    a_long_overdue_defer_is_due_now(schedule.as_ref()).await;
    late_defers_racing_sweeps_are_never_lost(Arc::clone(&schedule)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_schedule_passes_the_scenarios() {
    let memory = Arc::new(MemorySchedule::new());
    let inspect = Arc::clone(&memory);
    let watermark = move |shard: u16| {
        let inspect = Arc::clone(&inspect);
        async move { inspect.watermark(shard) }.boxed()
    };
    run_all(memory, &watermark).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_schedule_passes_the_scenarios() {
    common::in_scratch_keyspace("it_sched", |session, keyspace| async move {
        let schedule = Arc::new(
            CassandraSchedule::new(Arc::clone(&session), &keyspace)
                .await
                .expect("prepare statements"),
        );
        // A second instance (another process) reads watermarks for the checks, so nothing
        // cached by the instance under test hides what the table holds.
        let inspect = Arc::new(
            CassandraSchedule::new(session, &keyspace)
                .await
                .expect("prepare statements"),
        );
        let watermark = move |shard: u16| {
            let inspect = Arc::clone(&inspect);
            async move { inspect.watermark(shard).await.expect("read watermark") }.boxed()
        };
        run_all(schedule, &watermark).await;
    })
    .await;
}

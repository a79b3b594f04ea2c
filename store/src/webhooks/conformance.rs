//! The behaviour every [`WebhookStore`] must show, written once and run against
//! [`super::MemoryWebhooks`] (unit tests) and [`super::CassandraWebhooks`]
//! (`store/tests/webhooks.rs`, against a real node). Each check panics on the first deviation
//! and works in tenants and endpoints of its own, so all can run against one store.

use super::{OutboxEntry, QueueId, WebhookEndpoint, WebhookStore};

/// An endpoint of `tenant` with a recognisable ciphertext (`[1, 2, 3]`).
pub fn endpoint(tenant: &str, id: &str) -> WebhookEndpoint {
    WebhookEndpoint {
        tenant_id: tenant.into(),
        endpoint_id: id.into(),
        app_key: "ak_1".into(),
        url: format!("https://hooks.example.com/{id}"),
        secret_ciphertext: vec![1, 2, 3],
        enabled: true,
        statuses: vec!["FAILED".into(), "SENT".into()],
        created_at_ms: 1_700_000_000_123,
    }
}

fn entry(queue: &QueueId, seq: i64) -> OutboxEntry {
    OutboxEntry {
        queue: queue.clone(),
        seq,
        tenant_id: "tn_q".into(),
        delivery_key: format!("d-{}", seq % 3),
        body: format!("{{\"seq\":{seq}}}").into_bytes(),
        enqueued_at_ms: 1_700_000_000_000 + seq,
    }
}

/// Runs every check, one after another.
pub async fn run_all(store: &dyn WebhookStore) {
    endpoints_round_trip_per_tenant(store).await;
    secrets_rotate_and_endpoints_delete_within_their_tenant(store).await;
    backlog_reads_in_order_from_a_cursor(store).await;
    backlog_appends_are_idempotent_and_queues_independent(store).await;
}

/// An endpoint reads back whole; tenants see only their own.
pub async fn endpoints_round_trip_per_tenant(store: &dyn WebhookStore) {
    let a1 = endpoint("rt-a", "wh_a1");
    let mut a2 = endpoint("rt-a", "wh_a2");
    a2.enabled = false;
    a2.statuses = Vec::new();
    let b1 = endpoint("rt-b", "wh_b1");
    for e in [&a2, &a1, &b1] {
        store.create_endpoint(e).await.expect("create");
    }
    assert_eq!(
        store.endpoint("rt-a", "wh_a1").await.expect("read"),
        Some(a1.clone())
    );
    assert_eq!(store.endpoint("rt-b", "wh_a1").await.expect("read"), None);
    assert_eq!(
        store.endpoints_of("rt-a").await.expect("list"),
        vec![a1.clone(), a2.clone()]
    );
    assert_eq!(store.endpoints_of("rt-none").await.expect("list"), vec![]);
    let all = store.all_endpoints().await.expect("all");
    for e in [&a1, &a2, &b1] {
        assert!(all.contains(e), "{e:?} missing from {all:?}");
    }
}

/// Rotating a secret and deleting work only on the tenant's own endpoints.
pub async fn secrets_rotate_and_endpoints_delete_within_their_tenant(store: &dyn WebhookStore) {
    store
        .create_endpoint(&endpoint("rot-a", "wh_r1"))
        .await
        .expect("create");
    assert!(!store
        .set_secret("rot-b", "wh_r1", &[9, 9])
        .await
        .expect("rotate"));
    assert!(!store
        .set_secret("rot-a", "wh_none", &[9, 9])
        .await
        .expect("rotate"));
    assert!(store
        .set_secret("rot-a", "wh_r1", &[9, 9])
        .await
        .expect("rotate"));
    let read = store.endpoint("rot-a", "wh_r1").await.expect("read");
    assert_eq!(read.map(|e| e.secret_ciphertext), Some(vec![9, 9]));

    assert!(!store
        .delete_endpoint("rot-b", "wh_r1")
        .await
        .expect("delete"));
    assert!(store
        .delete_endpoint("rot-a", "wh_r1")
        .await
        .expect("delete"));
    assert!(!store
        .delete_endpoint("rot-a", "wh_r1")
        .await
        .expect("delete"));
    assert_eq!(store.endpoint("rot-a", "wh_r1").await.expect("read"), None);
    assert!(
        !store
            .set_secret("rot-a", "wh_r1", &[1])
            .await
            .expect("rotate"),
        "a deleted endpoint must not come back"
    );
    assert_eq!(store.endpoints_of("rot-a").await.expect("list"), vec![]);
}

/// A queue reads in seq order, at most `limit` at a time, after a cursor; removed entries are
/// gone.
pub async fn backlog_reads_in_order_from_a_cursor(store: &dyn WebhookStore) {
    let queue = QueueId {
        endpoint_id: "wh_order".into(),
        shard: 3,
    };
    let entries: Vec<OutboxEntry> = [40, 7, 12, 300, 8]
        .iter()
        .map(|s| entry(&queue, *s))
        .collect();
    store.append(&entries).await.expect("append");
    let seqs = |found: Vec<OutboxEntry>| found.iter().map(|e| e.seq).collect::<Vec<_>>();
    let first = store.pending(&queue, None, 3).await.expect("pending");
    assert_eq!(first[0], entry(&queue, 7), "entries read back whole");
    assert_eq!(seqs(first), vec![7, 8, 12]);
    assert_eq!(
        seqs(store.pending(&queue, Some(12), 10).await.expect("pending")),
        vec![40, 300]
    );
    store.remove(&queue, 7).await.expect("remove");
    store.remove(&queue, 8).await.expect("remove");
    store
        .remove(&queue, 8)
        .await
        .expect("removing twice is fine");
    assert_eq!(
        seqs(store.pending(&queue, None, 10).await.expect("pending")),
        vec![12, 40, 300]
    );
    for seq in [12, 40, 300] {
        store.remove(&queue, seq).await.expect("remove");
    }
    assert!(store
        .pending(&queue, None, 10)
        .await
        .expect("pending")
        .is_empty());
}

/// Appending an entry twice keeps one; queues of other shards and endpoints are apart.
pub async fn backlog_appends_are_idempotent_and_queues_independent(store: &dyn WebhookStore) {
    let queue = QueueId {
        endpoint_id: "wh_idem".into(),
        shard: 0,
    };
    let other_shard = QueueId {
        shard: 1,
        ..queue.clone()
    };
    let other_endpoint = QueueId {
        endpoint_id: "wh_idem2".into(),
        shard: 0,
    };
    store
        .append(&[
            entry(&queue, 5),
            entry(&other_shard, 6),
            entry(&other_endpoint, 7),
        ])
        .await
        .expect("append");
    store
        .append(&[entry(&queue, 5)])
        .await
        .expect("append again");
    assert_eq!(
        store.pending(&queue, None, 10).await.expect("pending"),
        vec![entry(&queue, 5)]
    );
    assert_eq!(
        store
            .pending(&other_shard, None, 10)
            .await
            .expect("pending"),
        vec![entry(&other_shard, 6)]
    );
    assert_eq!(
        store
            .pending(&other_endpoint, None, 10)
            .await
            .expect("pending"),
        vec![entry(&other_endpoint, 7)]
    );
}

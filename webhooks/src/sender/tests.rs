//! The sender with fakes: a scripted poster, the in-memory store and publisher, and tokio's
//! paused clock standing in for time (the budget reads it through [`TokioClock`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use notify_common::clock::Clock;
use notify_common::dead_letter::{DLQ_ERROR, DLQ_STAGE, DLQ_TOPIC};
use notify_common::publish::MemoryPublisher;
use notify_common::sealed::SecretsKey;
use notify_common::Shutdown;
use notify_store::webhooks::{
    conformance, sealing_context, MemoryWebhooks, OutboxEntry, QueueId, WebhookStore,
};

use super::{Poster, Sender, SenderParts};
use crate::retry::{Attempt, Schedule};
use crate::sign;

const SECRET: &[u8] = b"whsec_unit";
const BASE_MS: i64 = 1_700_000_000_000;

/// Wall time that moves with tokio's (paused) clock.
#[derive(Debug)]
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        BASE_MS + i64::try_from(self.0.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

/// Answers 2xx unless the URL is down; records every call that was taken.
#[derive(Debug, Default)]
struct FakePoster {
    down: Mutex<HashMap<String, bool>>,
    taken: Mutex<Vec<(String, Vec<u8>)>>,
    attempts: Mutex<HashMap<String, usize>>,
}

impl FakePoster {
    fn set_down(&self, url: &str, down: bool) {
        self.down.lock().expect("lock").insert(url.into(), down);
    }
    fn taken(&self, url: &str) -> Vec<i64> {
        self.taken
            .lock()
            .expect("lock")
            .iter()
            .filter(|(u, _)| u == url)
            .map(|(_, body)| {
                let json: serde_json::Value = serde_json::from_slice(body).expect("json");
                json["seq"].as_i64().expect("seq")
            })
            .collect()
    }
}

#[async_trait]
impl Poster for FakePoster {
    async fn post(&self, url: &str, headers: &[(&'static str, String)], body: Vec<u8>) -> Attempt {
        *self
            .attempts
            .lock()
            .expect("lock")
            .entry(url.into())
            .or_default() += 1;
        let signature = headers
            .iter()
            .find(|(name, _)| *name == sign::SIGNATURE_HEADER)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let now_s = TokioClock(tokio::time::Instant::now()).now_ms() / 1000;
        // the signature is checked as a receiver would: generous tolerance, paused clock
        assert_eq!(
            sign::verify(SECRET, &signature, &body, now_s, 1_000_000),
            Ok(())
        );
        if self
            .down
            .lock()
            .expect("lock")
            .get(url)
            .copied()
            .unwrap_or(false)
        {
            return Attempt::Failed("endpoint answered 503".into());
        }
        self.taken.lock().expect("lock").push((url.into(), body));
        Attempt::Taken
    }
}

struct Fixture {
    store: Arc<MemoryWebhooks>,
    poster: Arc<FakePoster>,
    publisher: Arc<MemoryPublisher>,
    sender: Arc<Sender>,
}

async fn fixture(budget: Duration) -> Fixture {
    let store = Arc::new(MemoryWebhooks::new());
    let key = SecretsKey::from_bytes([3; 32]);
    for (tenant, id) in [("tn_a", "wh_dead"), ("tn_b", "wh_live")] {
        let mut endpoint = conformance::endpoint(tenant, id);
        endpoint.url = format!("https://{id}.example.com/hook");
        endpoint.secret_ciphertext = key.seal(&sealing_context(tenant, id), SECRET);
        store.create_endpoint(&endpoint).await.expect("create");
    }
    let poster = Arc::new(FakePoster::default());
    let publisher = Arc::new(MemoryPublisher::new());
    let parts = SenderParts {
        store: store.clone(),
        poster: poster.clone(),
        publisher: publisher.clone(),
        secrets: Some(key),
        schedule: Schedule {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            budget,
        },
        page_size: 2,
        max_in_flight: 4,
        clock: Arc::new(TokioClock(tokio::time::Instant::now())),
        status_topic: "notify.status".into(),
        dlq_topic: "notify.dlq".into(),
    };
    let sender = Sender::new(parts, Shutdown::new());
    Fixture {
        store,
        poster,
        publisher,
        sender,
    }
}

fn entries(tenant: &str, endpoint: &str, seqs: &[i64]) -> Vec<OutboxEntry> {
    seqs.iter()
        .map(|seq| OutboxEntry {
            queue: QueueId {
                endpoint_id: endpoint.into(),
                shard: 0,
            },
            seq: *seq,
            tenant_id: tenant.into(),
            delivery_key: format!("d{}", seq % 2),
            body: format!(r#"{{"id":"e{seq}","seq":{seq}}}"#).into_bytes(),
            enqueued_at_ms: BASE_MS,
        })
        .collect()
}

async fn settle(fixture: &Fixture, for_: Duration) {
    let deadline = tokio::time::Instant::now() + for_;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = fixture.sender.running();
}

#[tokio::test(start_paused = true)]
async fn a_dead_endpoint_holds_only_its_own_queue_and_gets_everything_in_order_when_back() {
    let f = fixture(Duration::from_secs(24 * 3600)).await;
    f.poster.set_down("https://wh_dead.example.com/hook", true);
    f.store
        .append(&entries("tn_a", "wh_dead", &[10, 11, 12, 13, 14]))
        .await
        .expect("append");
    f.store
        .append(&entries("tn_b", "wh_live", &[20, 21, 22]))
        .await
        .expect("append");
    for endpoint in ["wh_dead", "wh_live"] {
        f.sender.wake(QueueId {
            endpoint_id: endpoint.into(),
            shard: 0,
        });
    }
    settle(&f, Duration::from_secs(5)).await;
    assert_eq!(
        f.poster.taken("https://wh_live.example.com/hook"),
        vec![20, 21, 22]
    );
    assert!(f
        .poster
        .taken("https://wh_dead.example.com/hook")
        .is_empty());

    // five minutes down: retried on the schedule, the head never skipped
    settle(&f, Duration::from_secs(300)).await;
    let attempts = f.poster.attempts.lock().expect("lock")["https://wh_dead.example.com/hook"];
    assert!(
        (8..=40).contains(&attempts),
        "{attempts} attempts in five minutes"
    );
    f.poster.set_down("https://wh_dead.example.com/hook", false);
    settle(&f, Duration::from_secs(31)).await;
    assert_eq!(
        f.poster.taken("https://wh_dead.example.com/hook"),
        vec![10, 11, 12, 13, 14]
    );
    assert!(f.publisher.records().is_empty(), "nothing dead-lettered");
    let queue = QueueId {
        endpoint_id: "wh_dead".into(),
        shard: 0,
    };
    assert_eq!(backlog(&f, &queue).await, 0);
    assert_eq!(
        f.sender.running(),
        0,
        "workers exit when their queue is empty"
    );
}

#[tokio::test(start_paused = true)]
async fn past_the_budget_events_are_dead_lettered_in_order_and_removed() {
    let f = fixture(Duration::from_secs(60)).await;
    f.poster.set_down("https://wh_dead.example.com/hook", true);
    f.store
        .append(&entries("tn_a", "wh_dead", &[1, 2]))
        .await
        .expect("append");
    f.sender.wake(QueueId {
        endpoint_id: "wh_dead".into(),
        shard: 0,
    });
    settle(&f, Duration::from_secs(120)).await;
    let letters = f.publisher.to_topic("notify.dlq");
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].payload, entries("tn_a", "wh_dead", &[1])[0].body);
    assert_eq!(letters[0].header_value(DLQ_STAGE), Some("webhooks"));
    assert_eq!(
        letters[0].header_value(DLQ_ERROR),
        Some("webhook_retries_exhausted")
    );
    assert_eq!(letters[0].header_value(DLQ_TOPIC), Some("notify.status"));
    assert_eq!(letters[1].payload, entries("tn_a", "wh_dead", &[2])[0].body);
    assert_eq!(f.sender.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_deleted_endpoint_has_its_backlog_dropped_and_new_wakes_restart_a_worker() {
    let f = fixture(Duration::from_secs(3600)).await;
    let queue = QueueId {
        endpoint_id: "wh_live".into(),
        shard: 0,
    };
    let taken = || f.poster.taken("https://wh_live.example.com/hook");
    live_event(&f, &queue, 5).await;
    assert_eq!(taken(), vec![5]);
    live_event(&f, &queue, 6).await;
    assert_eq!(taken(), vec![5, 6]);

    assert!(f
        .store
        .delete_endpoint("tn_b", "wh_live")
        .await
        .expect("delete"));
    live_event(&f, &queue, 7).await;
    assert_eq!(taken(), vec![5, 6]);
    assert_eq!(backlog(&f, &queue).await, 0);
}

/// How many entries `queue` still holds (up to 10).
async fn backlog(f: &Fixture, queue: &QueueId) -> usize {
    let pending = f.store.pending(queue, None, 10).await.expect("read");
    pending.len()
}

/// Appends event `seq` of `tn_b`'s endpoint `wh_live`, wakes its queue and lets the sender run.
async fn live_event(f: &Fixture, queue: &QueueId, seq: i64) {
    f.store
        .append(&entries("tn_b", "wh_live", &[seq]))
        .await
        .expect("append");
    f.sender.wake(queue.clone());
    settle(f, Duration::from_secs(2)).await;
}

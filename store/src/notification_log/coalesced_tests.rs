use std::sync::Mutex;

use super::*;

/// Request slots of each kind in these tests.
const IN_FLIGHT: usize = 2;
use crate::notification_log::conformance::{self, write};
use crate::notification_log::MemoryLog;

/// A log whose requests wait at a gate until the test opens it, and which notes the size of
/// every request.
#[derive(Debug)]
struct Gated {
    rows: MemoryLog,
    gate: Semaphore,
    reads: Mutex<Vec<usize>>,
    writes: Mutex<Vec<Vec<LogWrite>>>,
    /// The first read that asks for this event fails.
    fail_once: Mutex<Option<String>>,
}

impl Default for Gated {
    fn default() -> Self {
        Self {
            rows: MemoryLog::new(),
            gate: Semaphore::new(0),
            reads: Mutex::default(),
            writes: Mutex::default(),
            fail_once: Mutex::default(),
        }
    }
}

impl Gated {
    fn open(&self) {
        self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    async fn pass(&self) {
        self.gate.acquire().await.expect("gate open").forget();
    }

    fn reads(&self) -> Vec<usize> {
        self.reads.lock().unwrap().clone()
    }

    fn writes(&self) -> Vec<Vec<LogWrite>> {
        self.writes.lock().unwrap().clone()
    }
}

#[async_trait]
impl DeliveryLog for Gated {
    async fn get(&self, key: &LogKey) -> StoreResult<Option<LogEntry>> {
        self.get_many(std::slice::from_ref(key))
            .await
            .map(|mut rows| rows.remove(0))
    }

    async fn put(&self, write: &LogWrite) -> StoreResult<()> {
        self.put_many(std::slice::from_ref(write)).await
    }

    async fn delete(&self, key: &LogKey) -> StoreResult<()> {
        self.rows.delete(key).await
    }

    async fn entries(&self, tenant: &str, event_id: &str) -> StoreResult<Vec<LogEntry>> {
        self.rows.entries(tenant, event_id).await
    }

    async fn get_many(&self, keys: &[LogKey]) -> StoreResult<Vec<Option<LogEntry>>> {
        self.reads.lock().unwrap().push(keys.len());
        self.pass().await;
        let failed = {
            let mut doomed = self.fail_once.lock().unwrap();
            let hit = keys.iter().any(|k| Some(&k.event_id) == doomed.as_ref());
            if hit {
                *doomed = None;
            }
            hit
        };
        if failed {
            return Err(StoreError::Result("node down".into()));
        }
        self.rows.get_many(keys).await
    }

    async fn put_many(&self, writes: &[LogWrite]) -> StoreResult<()> {
        self.writes.lock().unwrap().push(writes.to_vec());
        self.pass().await;
        self.rows.put_many(writes).await
    }
}

/// Lets every spawned task run until it waits.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// A log with both request slots of each kind taken by a call waiting at the gate.
async fn busy() -> (Arc<Gated>, Arc<CoalescedLog>) {
    let gated = Arc::new(Gated::default());
    let log = Arc::new(CoalescedLog::new(gated.clone(), IN_FLIGHT));
    for i in 0..IN_FLIGHT {
        let (l, e) = (log.clone(), format!("busy-{i}"));
        tokio::spawn(async move { l.get(&LogKey::new("t", &e, "sms", "r")).await });
        settle().await;
        let (l, w) = (
            log.clone(),
            write("t", &format!("busy-{i}"), "sms", "r", "sent"),
        );
        tokio::spawn(async move { l.put(&w).await });
        settle().await;
    }
    assert_eq!(
        gated.reads(),
        vec![1; IN_FLIGHT],
        "each went out alone, at once"
    );
    assert_eq!(gated.writes().len(), IN_FLIGHT);
    (gated, log)
}

#[tokio::test(flavor = "current_thread")]
async fn reads_asked_for_while_the_slots_are_busy_go_out_as_one_request() {
    let (gated, log) = busy().await;
    for i in 0..5 {
        let row = write("t", &format!("e{i}"), "sms", "r", "sent");
        gated.rows.put(&row).await.unwrap();
    }
    let asked = (0..30).map(|i| {
        let log = log.clone();
        tokio::spawn(async move {
            log.get(&LogKey::new("t", &format!("e{i}"), "sms", "r"))
                .await
        })
    });
    let asked: Vec<_> = asked.collect();
    settle().await;
    gated.open();
    for (i, answer) in asked.into_iter().enumerate() {
        let row = answer.await.unwrap().expect("answered");
        assert_eq!(row.is_some(), i < 5, "read {i}");
        if let Some(row) = row {
            assert_eq!(row.state.as_deref(), Some("sent"));
            assert_eq!(row.delivery_id, Some(format!("d-e{i}-sms-r")));
        }
    }
    assert_eq!(gated.reads(), vec![1, 1, 30], "32 reads, 3 requests");
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_takes_at_most_its_cap_of_calls() {
    let (gated, log) = busy().await;
    let reads: Vec<_> = (0..MAX_READS + 6)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move {
                log.get(&LogKey::new("t", &format!("e{i}"), "sms", "r"))
                    .await
            })
        })
        .collect();
    let writes: Vec<_> = (0..MAX_WRITES * 2 + 3)
        .map(|i| {
            let (log, w) = (
                log.clone(),
                write("t", &format!("e{i}"), "sms", "r", "sent"),
            );
            tokio::spawn(async move { log.put(&w).await })
        })
        .collect();
    settle().await;
    gated.open();
    for answer in reads {
        assert!(answer.await.unwrap().is_ok());
    }
    for answer in writes {
        assert!(answer.await.unwrap().is_ok());
    }
    assert_eq!(gated.reads()[IN_FLIGHT..], [MAX_READS, 6]);
    let sizes: Vec<usize> = gated.writes()[IN_FLIGHT..].iter().map(Vec::len).collect();
    assert_eq!(sizes, [MAX_WRITES, MAX_WRITES, 3]);
}

#[tokio::test(flavor = "current_thread")]
async fn writes_of_one_row_asked_for_together_land_in_order_in_separate_requests() {
    let (gated, log) = busy().await;
    let states = ["retrying", "sent", "failed"];
    let mut asked = Vec::new();
    for (i, state) in states.iter().enumerate() {
        for w in [
            write("t", "e1", "sms", "r", state),
            write("t", &format!("other{i}"), "sms", "r", "sent"),
        ] {
            let log = log.clone();
            asked.push(tokio::spawn(async move { log.put(&w).await }));
            settle().await;
        }
    }
    gated.open();
    for answer in asked {
        answer.await.unwrap().expect("written");
    }
    let batches = &gated.writes()[IN_FLIGHT..];
    for batch in batches {
        let mut keys: Vec<LogKey> = batch.iter().map(LogWrite::key).collect();
        keys.dedup();
        assert_eq!(
            keys.len(),
            batch.len(),
            "a row twice in one request: {batch:?}"
        );
    }
    let of_e1: Vec<&str> = batches
        .iter()
        .flatten()
        .filter(|w| w.event_id == "e1")
        .map(|w| w.state.as_str())
        .collect();
    assert_eq!(of_e1, states, "in the order asked");
    let row = gated.rows.row("t", "e1", "sms", "r").expect("written");
    assert_eq!(row.state, "failed", "the last write asked for is the row");
    assert_eq!(batches.len(), 3, "one request per round: {batches:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn every_call_of_a_failed_request_gets_its_error_and_the_next_request_works() {
    let (gated, log) = busy().await;
    gated
        .rows
        .put(&write("t", "e1", "sms", "r", "sent"))
        .await
        .unwrap();
    *gated.fail_once.lock().unwrap() = Some("e1".into());
    let asked: Vec<_> = (0..3)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move { log.get(&LogKey::new("t", "e1", "sms", "r")).await })
        })
        .collect();
    settle().await;
    gated.open();
    for answer in futures::future::join_all(asked).await {
        let e = answer.unwrap().expect_err("its request failed");
        assert!(matches!(e, StoreError::Joined(_)), "{e:?}");
        assert!(e.to_string().contains("node down"), "{e}");
    }
    assert_eq!(
        gated.reads()[IN_FLIGHT..],
        [3],
        "the three went out together"
    );
    let again = log
        .get(&LogKey::new("t", "e1", "sms", "r"))
        .await
        .expect("works again");
    assert_eq!(again.and_then(|r| r.state).as_deref(), Some("sent"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_given_up_before_its_request_went_out_is_not_made() {
    let (gated, log) = busy().await;
    let given_up = {
        let (log, w) = (log.clone(), write("t", "given-up", "sms", "r", "retrying"));
        tokio::spawn(async move { log.put(&w).await })
    };
    settle().await;
    given_up.abort();
    settle().await;
    let kept = {
        let (log, w) = (log.clone(), write("t", "kept", "sms", "r", "sent"));
        tokio::spawn(async move { log.put(&w).await })
    };
    settle().await;
    gated.open();
    kept.await.unwrap().expect("written");
    let sent: Vec<String> = gated.writes()[IN_FLIGHT..]
        .iter()
        .flatten()
        .map(|w| w.event_id.clone())
        .collect();
    assert_eq!(sent, ["kept"], "the given-up write never went out");
    assert!(gated.rows.row("t", "given-up", "sms", "r").is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn an_idle_log_sends_each_call_at_once() {
    let gated = Arc::new(Gated::default());
    gated.open();
    let log = CoalescedLog::new(gated.clone(), IN_FLIGHT);
    for i in 0..3 {
        log.put(&write("t", &format!("e{i}"), "sms", "r", "sent"))
            .await
            .unwrap();
        assert!(log
            .get(&LogKey::new("t", &format!("e{i}"), "sms", "r"))
            .await
            .unwrap()
            .is_some());
    }
    assert_eq!(gated.reads(), [1, 1, 1]);
    assert_eq!(
        gated.writes().iter().map(Vec::len).collect::<Vec<_>>(),
        [1, 1, 1]
    );
}

#[tokio::test]
async fn the_coalesced_log_passes_the_conformance_suite() {
    let log = CoalescedLog::new(Arc::new(MemoryLog::new()), IN_FLIGHT);
    conformance::run_all(&log).await;
}

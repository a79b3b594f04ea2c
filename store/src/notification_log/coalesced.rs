//! [`CoalescedLog`]: a [`DeliveryLog`] that joins the reads and the writes asked for at the
//! same time into one request each ([`DeliveryLog::get_many`], [`DeliveryLog::put_many`]).
//!
//! A dispatcher reads and writes one row per delivery, from many deliveries at once. Sent one
//! by one, that is two database requests per delivery, each parsed, scheduled and answered by
//! the node on its own. Here a call waits in a queue only while earlier
//! requests of its kind are still out (`in_flight` of them, `store.log_requests_in_flight`);
//! whatever queued meanwhile goes out together, up to a cap. No timer: an idle log sends each
//! call at once, as before, and the busier the database, the fuller each request. The slots
//! also bound what one kind can do: `in_flight` × the cap rows per round trip (4 × 10 writes
//! every 10 ms is 4,000 a second).
//!
//! Guarantees: every call gets its own answer, or the error of the request it went out in; a
//! write returns once its request was acknowledged; two writes of one row asked for together
//! go out in the order asked, never in one batch; a call whose caller gave up (dropped its
//! future) before its request went out is not made. Not guaranteed: that one already out is
//! not, as with any request already sent.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use super::{DeliveryLog, LogEntry, LogKey, LogWrite};
use crate::session::{StoreError, StoreResult};

/// Keys read in one request at most. ScyllaDB refuses a query that names more than 100
/// partition keys by default (`max_partition_key_restrictions_per_query`), and each event is
/// one partition.
pub const MAX_READS: usize = 64;
/// Rows written in one batch at most. Cassandra warns of an unlogged batch that spans more
/// than 10 partitions (`unlogged_batch_across_partitions_warn_threshold`), and every row of
/// the log is its event's partition.
pub const MAX_WRITES: usize = 10;

type Answer<T> = oneshot::Sender<StoreResult<T>>;
/// A queued call: what it asks, and where its answer goes.
type Call<Q, A> = (Q, Answer<A>);

/// Joins concurrent reads and writes of `inner` into one request each; see the module docs.
#[derive(Debug)]
pub struct CoalescedLog {
    inner: Arc<dyn DeliveryLog>,
    reads: mpsc::UnboundedSender<Call<LogKey, Option<LogEntry>>>,
    writes: mpsc::UnboundedSender<Call<LogWrite, ()>>,
}

impl CoalescedLog {
    /// Wraps `inner`, keeping at most `in_flight` (at least 1) requests of each kind out at
    /// once; spawns the two tasks that send them (they end when this is dropped). Needs a
    /// tokio runtime.
    pub fn new(inner: Arc<dyn DeliveryLog>, in_flight: usize) -> Self {
        let (reads, read_queue) = mpsc::unbounded_channel();
        let (writes, write_queue) = mpsc::unbounded_channel();
        let slots = || Arc::new(Semaphore::new(in_flight.max(1)));
        tokio::spawn(send_reads(inner.clone(), read_queue, slots()));
        tokio::spawn(send_writes(inner.clone(), write_queue, slots()));
        Self {
            inner,
            reads,
            writes,
        }
    }
}

/// Takes the next call, waits for a free request slot, then everything queued meanwhile (up
/// to `max`) joins it. Calls whose caller gave up are dropped unsent.
async fn next_batch<Q, A>(
    queue: &mut mpsc::UnboundedReceiver<Call<Q, A>>,
    slots: &Arc<Semaphore>,
    max: usize,
) -> Option<(Vec<Call<Q, A>>, OwnedSemaphorePermit)> {
    let wanted = |call: &Call<Q, A>| !call.1.is_closed();
    let (first, slot) = loop {
        let call = queue.recv().await?;
        let slot = slots.clone().acquire_owned().await.ok()?;
        if wanted(&call) {
            break (call, slot);
        }
    };
    let mut batch = vec![first];
    while batch.len() < max {
        match queue.try_recv() {
            Ok(call) if wanted(&call) => batch.push(call),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Some((batch, slot))
}

async fn send_reads(
    inner: Arc<dyn DeliveryLog>,
    mut queue: mpsc::UnboundedReceiver<Call<LogKey, Option<LogEntry>>>,
    slots: Arc<Semaphore>,
) {
    while let Some((batch, slot)) = next_batch(&mut queue, &slots, MAX_READS).await {
        let inner = inner.clone();
        tokio::spawn(async move {
            let (keys, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            match inner.get_many(&keys).await {
                Ok(rows) => {
                    for (answer, row) in answers.into_iter().zip(rows) {
                        let _ = answer.send(Ok(row));
                    }
                }
                Err(e) => answer_all(answers, e),
            }
            drop(slot);
        });
    }
}

async fn send_writes(
    inner: Arc<dyn DeliveryLog>,
    mut queue: mpsc::UnboundedReceiver<Call<LogWrite, ()>>,
    slots: Arc<Semaphore>,
) {
    while let Some((batch, slot)) = next_batch(&mut queue, &slots, MAX_WRITES).await {
        let inner = inner.clone();
        tokio::spawn(async move {
            for round in rounds(batch) {
                let (writes, answers): (Vec<_>, Vec<_>) = round.into_iter().unzip();
                match inner.put_many(&writes).await {
                    Ok(()) => answers.into_iter().for_each(|a| drop(a.send(Ok(())))),
                    Err(e) => answer_all(answers, e),
                }
            }
            drop(slot);
        });
    }
}

/// Splits `batch` into consecutive rounds with no row twice in one, keeping the order of the
/// writes of each row.
fn rounds<A>(batch: Vec<(LogWrite, A)>) -> Vec<Vec<(LogWrite, A)>> {
    let mut rounds: Vec<Vec<(LogWrite, A)>> = Vec::new();
    let mut keys: Vec<HashSet<LogKey>> = Vec::new();
    for (write, answer) in batch {
        let key = write.key();
        // after the last round that already holds this row
        let after = keys
            .iter()
            .rposition(|k| k.contains(&key))
            .map_or(0, |i| i + 1);
        if after == rounds.len() {
            rounds.push(Vec::new());
            keys.push(HashSet::new());
        }
        keys[after].insert(key);
        rounds[after].push((write, answer));
    }
    rounds
}

fn answer_all<T>(answers: Vec<Answer<T>>, error: StoreError) {
    let error = Arc::new(error);
    for answer in answers {
        let _ = answer.send(Err(StoreError::Joined(error.clone())));
    }
}

/// The answer of a call whose sending task is gone (the runtime is shutting down).
fn gone() -> StoreError {
    StoreError::Result("the notification log's request task has stopped".into())
}

#[async_trait]
impl DeliveryLog for CoalescedLog {
    async fn get(&self, key: &LogKey) -> StoreResult<Option<LogEntry>> {
        let (answer, answered) = oneshot::channel();
        self.reads.send((key.clone(), answer)).map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }

    async fn put(&self, write: &LogWrite) -> StoreResult<()> {
        let (answer, answered) = oneshot::channel();
        self.writes
            .send((write.clone(), answer))
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }

    async fn delete(&self, key: &LogKey) -> StoreResult<()> {
        self.inner.delete(key).await
    }

    async fn entries(&self, tenant: &str, event_id: &str) -> StoreResult<Vec<LogEntry>> {
        self.inner.entries(tenant, event_id).await
    }
}

#[cfg(test)]
#[path = "coalesced_tests.rs"]
mod tests;

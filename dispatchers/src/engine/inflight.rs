//! Which offsets of each assigned partition are still being worked on, and the offset that may
//! be stored.
//!
//! Guarantees: the offset offered for storing is the highest contiguous done offset + 1 — the
//! first record still pending, or one past the last record taken when none is — so a record
//! finished out of order never lets the committed offset pass an earlier record that is still
//! in flight (the `[i, i+n)` loss of committing out of order). Each assignment of a partition
//! has its own generation: a record taken under an earlier assignment never moves the offset of
//! a later one. Revoking waits (with a deadline) until a partition's records are done.
//!
//! Not guaranteed: anything across processes; the committed offset of a partition whose
//! records outlive the drain deadline stays at the first unfinished one, so the next owner
//! repeats from there (dedup recognises what was already sent).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// A topic partition.
pub type TopicPartition = (String, i32);

/// Offsets of one assignment of one partition.
#[derive(Debug, Default, Clone)]
pub struct PartitionOffsets {
    pending: BTreeSet<i64>,
    next_after_taken: Option<i64>,
}

impl PartitionOffsets {
    /// Records that `offset` was taken for processing; offsets are taken in increasing order.
    pub fn take(&mut self, offset: i64) {
        self.pending.insert(offset);
        self.next_after_taken = Some(
            self.next_after_taken
                .map_or(offset + 1, |n| n.max(offset + 1)),
        );
    }

    /// Records that `offset` has a durable outcome.
    pub fn finish(&mut self, offset: i64) {
        self.pending.remove(&offset);
    }

    /// The offset to store: the first pending one, else one past the last taken; `None` before
    /// anything was taken.
    pub fn committable(&self) -> Option<i64> {
        self.pending.first().copied().or(self.next_after_taken)
    }

    /// Records still pending.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[derive(Debug)]
struct Assigned {
    generation: u64,
    offsets: PartitionOffsets,
    revoking: bool,
    stored: Option<i64>,
    /// Records started (between [`Inflight::start`] and their finish or abort).
    busy: usize,
    /// Cancelled when the assignment ends, so records of it stop waiting on dependencies.
    abandon: CancellationToken,
    /// Cancelled when the partition starts being revoked (or at shutdown): no provider call
    /// may start after it, so none can outlive the drain.
    fence: CancellationToken,
}

/// What a started record holds.
#[derive(Debug, Clone, Default)]
pub struct Lease {
    /// Cancelled when the assignment ends: stop waiting on dependencies, the record is the
    /// next owner's.
    pub abandon: CancellationToken,
    /// Cancelled when the partition starts being revoked or the lane stops: start no provider
    /// call (one already running may finish and its outcome be written until `abandon`).
    pub fence: CancellationToken,
}

/// Proof that a record was taken under one assignment of its partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Topic and partition.
    pub partition: TopicPartition,
    /// The assignment it was taken under.
    pub generation: u64,
    /// The record's offset.
    pub offset: i64,
}

/// Every assigned partition of one consumer. Shared by the consumer loop, the record tasks and
/// the rebalance callback.
#[derive(Debug, Default)]
pub struct Inflight {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    next_generation: u64,
    partitions: HashMap<TopicPartition, Assigned>,
    root: CancellationToken,
}

impl Inflight {
    /// No partitions.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a new assignment of each partition (a partition assigned again starts afresh).
    pub fn assign(&self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let mut state = self.lock();
        for partition in partitions {
            state.next_generation += 1;
            let generation = state.next_generation;
            let abandon = state.root.child_token();
            state.partitions.insert(
                partition,
                Assigned {
                    generation,
                    offsets: PartitionOffsets::default(),
                    revoking: false,
                    stored: None,
                    busy: 0,
                    abandon,
                    fence: CancellationToken::new(),
                },
            );
        }
    }

    /// Takes a record; `None` if its partition is not assigned or is being revoked (the record
    /// is left to the partition's next owner).
    pub fn take(&self, topic: &str, partition: i32, offset: i64) -> Option<Ticket> {
        let mut state = self.lock();
        let assigned = state.partitions.get_mut(&(topic.to_owned(), partition))?;
        if assigned.revoking {
            return None;
        }
        assigned.offsets.take(offset);
        // the position the assignment started from is already committed (or is the reset
        // position): nothing to store until a record is done
        assigned.stored.get_or_insert(offset);
        Some(Ticket {
            partition: (topic.to_owned(), partition),
            generation: assigned.generation,
            offset,
        })
    }

    /// Starts work on the ticket's record if its assignment is still current and not being
    /// revoked; returns its [`Lease`]. A record that does not start stays pending, so the
    /// stored offset never passes it, and its partition's next owner handles it. Start a
    /// record only once it can run (it holds its send slot): a revoke waits for started
    /// records only.
    pub fn start(&self, ticket: &Ticket) -> Option<Lease> {
        let mut state = self.lock();
        let assigned = state.partitions.get_mut(&ticket.partition)?;
        if assigned.generation != ticket.generation || assigned.revoking {
            return None;
        }
        assigned.busy += 1;
        Some(Lease {
            abandon: assigned.abandon.clone(),
            fence: assigned.fence.clone(),
        })
    }

    /// A started record no longer runs.
    fn release(state: &mut State, ticket: &Ticket) {
        if let Some(assigned) = state.partitions.get_mut(&ticket.partition) {
            if assigned.generation == ticket.generation {
                assigned.busy = assigned.busy.saturating_sub(1);
            }
        }
    }

    /// The current assignment generation of a partition, if assigned.
    pub fn generation(&self, topic: &str, partition: i32) -> Option<u64> {
        self.lock()
            .partitions
            .get(&(topic.to_owned(), partition))
            .map(|a| a.generation)
    }

    /// Whether the ticket's assignment is still the partition's current one.
    pub fn is_current(&self, ticket: &Ticket) -> bool {
        self.lock()
            .partitions
            .get(&ticket.partition)
            .is_some_and(|a| a.generation == ticket.generation)
    }

    /// A started record was given up without a durable outcome: it stays pending, so the
    /// stored offset never passes it (its partition's next owner repeats it).
    pub fn abort(&self, ticket: &Ticket) {
        Self::release(&mut self.lock(), ticket);
        self.changed.notify_all();
    }

    /// Takes and starts no more records on any partition and fences provider calls (shutdown);
    /// records already started finish.
    pub fn stop_all(&self) {
        for assigned in self.lock().partitions.values_mut() {
            assigned.revoking = true;
            assigned.fence.cancel();
        }
    }

    /// Marks the ticket's record done and, if that moved the partition's committable offset,
    /// calls `store` with it while still holding the lock (so stores of one partition never
    /// reorder). Returns the offset stored, if any.
    pub fn finish<E>(
        &self,
        ticket: &Ticket,
        store: impl FnOnce(&TopicPartition, i64) -> Result<(), E>,
    ) -> Option<i64> {
        let mut state = self.lock();
        Self::release(&mut state, ticket);
        let assigned = state.partitions.get_mut(&ticket.partition)?;
        if assigned.generation != ticket.generation {
            return None;
        }
        assigned.offsets.finish(ticket.offset);
        let stored = match assigned.offsets.committable() {
            Some(offset) if assigned.stored.is_none_or(|s| offset > s) => {
                // a failed store (partition lost meanwhile) is retried by the next finish
                store(&ticket.partition, offset).ok().map(|()| {
                    assigned.stored = Some(offset);
                    offset
                })
            }
            _ => None,
        };
        drop(state);
        self.changed.notify_all();
        stored
    }

    /// Takes and starts no more records of `partitions`, fences their provider calls, and
    /// waits until every started record is done or `deadline` passes. Returns the committable
    /// offset of each partition that has one and the number of started records left
    /// unfinished, and forgets the partitions (cancelling their tokens). Records taken but not
    /// started stay pending: the committed offset stays before them and the next owner handles
    /// them. Blocking: call it from the rebalance callback or a blocking task.
    pub fn revoke(
        &self,
        partitions: &[TopicPartition],
        deadline: Duration,
    ) -> (Vec<(TopicPartition, i64)>, usize) {
        let until = Instant::now() + deadline;
        let mut state = self.lock();
        for partition in partitions {
            if let Some(assigned) = state.partitions.get_mut(partition) {
                assigned.revoking = true;
                assigned.fence.cancel();
            }
        }
        loop {
            let pending: usize = partitions
                .iter()
                .filter_map(|p| state.partitions.get(p))
                .map(|a| a.busy)
                .sum();
            let now = Instant::now();
            if pending == 0 || now >= until {
                let offsets = partitions
                    .iter()
                    .filter_map(|p| {
                        let assigned = state.partitions.remove(p)?;
                        assigned.abandon.cancel();
                        Some((p.clone(), assigned.offsets.committable()?))
                    })
                    .collect();
                return (offsets, pending);
            }
            state = self
                .changed
                .wait_timeout(state, until - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Cancels the tokens of every assignment: shutdown gave up waiting.
    pub fn abandon_all(&self) {
        self.lock().root.cancel();
    }

    /// Pending records over all partitions.
    pub fn pending(&self) -> usize {
        self.lock()
            .partitions
            .values()
            .map(|a| a.offsets.pending())
            .sum()
    }

    /// Assigned partitions not being revoked, with their assignment generation.
    pub fn assigned(&self) -> HashMap<TopicPartition, u64> {
        self.lock()
            .partitions
            .iter()
            .filter(|(_, a)| !a.revoking)
            .map(|(tp, a)| (tp.clone(), a.generation))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committable_is_the_first_unfinished_offset() {
        let mut offsets = PartitionOffsets::default();
        assert_eq!(offsets.committable(), None);
        for offset in [10, 11, 12, 14] {
            offsets.take(offset);
        }
        offsets.finish(11);
        offsets.finish(12);
        offsets.finish(14);
        assert_eq!(offsets.committable(), Some(10), "10 still in flight");
        offsets.finish(10);
        assert_eq!(offsets.committable(), Some(15), "gap at 13 is not a record");
    }

    #[test]
    fn finishing_out_of_order_stores_only_contiguous_progress() {
        let inflight = Inflight::new();
        let tp = ("t".to_owned(), 0);
        inflight.assign([tp.clone()]);
        let tickets: Vec<_> = (0..4).map(|o| inflight.take("t", 0, o).unwrap()).collect();
        for ticket in &tickets {
            inflight.start(ticket).expect("current");
        }
        let mut stored = Vec::new();
        let mut store = |_: &TopicPartition, o: i64| {
            stored.push(o);
            Ok::<(), ()>(())
        };
        assert_eq!(inflight.finish(&tickets[2], &mut store), None);
        assert_eq!(inflight.finish(&tickets[1], &mut store), None);
        assert_eq!(inflight.finish(&tickets[0], &mut store), Some(3));
        assert_eq!(inflight.finish(&tickets[3], &mut store), Some(4));
        assert_eq!(stored, vec![3, 4]);
    }

    #[test]
    fn an_old_assignment_never_moves_a_new_one() {
        let inflight = Inflight::new();
        let tp = ("t".to_owned(), 1);
        inflight.assign([tp.clone()]);
        let old = inflight.take("t", 1, 5).unwrap();
        let lease = inflight.start(&old).expect("current");
        let (offsets, unfinished) =
            inflight.revoke(std::slice::from_ref(&tp), Duration::from_millis(10));
        assert_eq!((offsets, unfinished), (vec![(tp.clone(), 5)], 1));
        assert!(
            lease.abandon.is_cancelled(),
            "records of a revoked assignment give up"
        );
        assert!(inflight.take("t", 1, 6).is_none(), "not assigned any more");
        inflight.assign([tp.clone()]);
        assert!(inflight.start(&old).is_none());
        assert_eq!(inflight.finish(&old, |_, _| Ok::<(), ()>(())), None);
        let new = inflight.take("t", 1, 5).unwrap();
        inflight.start(&new).expect("current");
        assert_eq!(inflight.finish(&new, |_, _| Ok::<(), ()>(())), Some(6));
    }

    #[test]
    fn revoke_waits_for_started_records_and_leaves_queued_ones_to_the_next_owner() {
        let inflight = std::sync::Arc::new(Inflight::new());
        let tp = ("t".to_owned(), 0);
        inflight.assign([tp.clone()]);
        let ticket = inflight.take("t", 0, 0).unwrap();
        let lease = inflight.start(&ticket).expect("current");
        let queued = inflight.take("t", 0, 1).unwrap();
        let worker = {
            let inflight = inflight.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                // the revoke fenced provider calls before this record finished
                assert!(lease.fence.is_cancelled());
                assert!(
                    !lease.abandon.is_cancelled(),
                    "it may still write its outcome"
                );
                inflight.finish(&ticket, |_, _| Ok::<(), ()>(()));
                // a record queued behind it does not start while the partition drains: a
                // send started now could outlive the drain and repeat at the next owner
                assert!(inflight.start(&queued).is_none());
            })
        };
        let started = std::time::Instant::now();
        let (offsets, unfinished) =
            inflight.revoke(std::slice::from_ref(&tp), Duration::from_secs(5));
        worker.join().unwrap();
        assert_eq!(unfinished, 0);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the queued record is not waited for"
        );
        assert_eq!(offsets, vec![(tp, 1)], "committed up to the queued record");
        assert!(inflight.take("t", 0, 2).is_none(), "gone after the revoke");
    }

    #[test]
    fn an_aborted_record_is_not_waited_for_but_keeps_the_offset() {
        let inflight = Inflight::new();
        let tp = ("t".to_owned(), 0);
        inflight.assign([tp.clone()]);
        let ticket = inflight.take("t", 0, 7).unwrap();
        inflight.start(&ticket).expect("current");
        inflight.abort(&ticket);
        let (offsets, unfinished) =
            inflight.revoke(std::slice::from_ref(&tp), Duration::from_secs(5));
        assert_eq!((offsets, unfinished), (vec![(tp, 7)], 0));
    }

    #[test]
    fn shutdown_fences_sends_and_refuses_new_starts() {
        let inflight = Inflight::new();
        inflight.assign([("t".to_owned(), 0)]);
        let running = inflight.take("t", 0, 0).unwrap();
        let lease = inflight.start(&running).expect("current");
        let queued = inflight.take("t", 0, 1).unwrap();
        inflight.stop_all();
        assert!(lease.fence.is_cancelled());
        assert!(inflight.start(&queued).is_none());
        assert_eq!(inflight.finish(&running, |_, _| Ok::<(), ()>(())), Some(1));
    }
}

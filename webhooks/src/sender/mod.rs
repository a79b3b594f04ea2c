//! Posting the backlog: one worker per queue (endpoint × `notify.status` partition) that has
//! entries, for the partitions this instance's consumer owns.
//!
//! Guarantees: a queue is posted strictly in offset order and its head is retried (on the
//! [`crate::retry`] schedule) until it is taken or dead-lettered, so a later status of a
//! delivery never overtakes an earlier one. A worker holds one page of its queue in memory;
//! everything else waits in the store, so a dead endpoint costs memory for one page and one
//! idle task, and never holds another endpoint's queue or the consumer's offsets. POSTs across
//! all workers are bounded by `webhooks.max_in_flight`. A worker exits when its queue is empty
//! and is started again by [`Sender::wake`] (the consumer, after writing to the queue) or by
//! a newly assigned partition's scan. Not guaranteed: that a partition moving to another
//! instance is never posted from both for a moment (at least once: receivers drop repeats by
//! `id`).

mod client;
mod worker;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use notify_common::clock::Clock;
use notify_common::publish::Publisher;
use notify_common::sealed::SecretsKey;
use notify_common::Shutdown;
use notify_store::webhooks::{QueueId, WebhookStore};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use client::{policy, HttpPoster, Poster};

use crate::metrics as m;
use crate::retry::Schedule;

/// What every worker shares.
#[derive(Debug)]
pub struct SenderParts {
    /// The backlog and the endpoints.
    pub store: Arc<dyn WebhookStore>,
    /// The HTTP client.
    pub poster: Arc<dyn Poster>,
    /// Where dead letters go.
    pub publisher: Arc<dyn Publisher>,
    /// Opens the endpoints' signing secrets; without it every attempt fails (and the gateway
    /// refuses registrations).
    pub secrets: Option<SecretsKey>,
    /// When to retry, when to give up.
    pub schedule: Schedule,
    /// Entries a worker reads at a time.
    pub page_size: usize,
    /// Most POSTs at once.
    pub max_in_flight: usize,
    /// Time, for signatures and budgets.
    pub clock: Arc<dyn Clock>,
    /// `notify.status`, named in dead letters as their origin.
    pub status_topic: String,
    /// `notify.dlq`.
    pub dlq_topic: String,
}

/// The workers of one instance.
#[derive(Debug)]
pub struct Sender {
    parts: SenderParts,
    permits: Semaphore,
    shutdown: Shutdown,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    assigned: HashSet<i32>,
    workers: HashMap<QueueId, Slot>,
    generations: u64,
}

#[derive(Debug)]
struct Slot {
    /// Set by a wake while the worker runs: it reads again before it exits.
    woken: bool,
    cancel: CancellationToken,
    /// Tells this worker's slot from a later one of the same queue.
    generation: u64,
}

impl Sender {
    /// Workers are spawned on `shutdown`, and stop when it is cancelled.
    pub fn new(parts: SenderParts, shutdown: Shutdown) -> Arc<Self> {
        metrics::gauge!(m::BACKLOGGED_QUEUES).set(0.0);
        metrics::gauge!(m::FAILING_QUEUES).set(0.0);
        Arc::new(Self {
            permits: Semaphore::new(parts.max_in_flight),
            parts,
            shutdown,
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes sure `queue` is being posted: starts its worker, or tells the running one to read
    /// again before it exits.
    pub fn wake(self: &Arc<Self>, queue: QueueId) {
        let mut state = self.state();
        if let Some(slot) = state.workers.get_mut(&queue) {
            slot.woken = true;
            return;
        }
        let cancel = self.shutdown.token().child_token();
        state.generations += 1;
        let generation = state.generations;
        state.workers.insert(
            queue.clone(),
            Slot {
                woken: false,
                cancel: cancel.clone(),
                generation,
            },
        );
        drop(state);
        let this = Arc::clone(self);
        self.shutdown.spawn("webhook queue", async move {
            this.run_queue(queue, generation, cancel).await;
            Ok::<(), std::convert::Infallible>(())
        });
    }

    /// The partitions this instance's consumer now owns: workers of partitions it lost stop;
    /// every endpoint's queue of a partition it gained is looked at (its backlog may have been
    /// left by the previous owner).
    pub async fn set_assignment(self: &Arc<Self>, shards: HashSet<i32>) {
        let gained: Vec<i32> = {
            let mut state = self.state();
            if state.assigned == shards {
                return;
            }
            let gained = shards.difference(&state.assigned).copied().collect();
            state.workers.retain(|queue, slot| {
                let keep = shards.contains(&queue.shard);
                if !keep {
                    slot.cancel.cancel();
                }
                keep
            });
            state.assigned = shards;
            gained
        };
        if gained.is_empty() {
            return;
        }
        match self.parts.store.all_endpoints().await {
            Ok(endpoints) => {
                for endpoint in endpoints {
                    for shard in &gained {
                        self.wake(QueueId {
                            endpoint_id: endpoint.endpoint_id.clone(),
                            shard: *shard,
                        });
                    }
                }
            }
            Err(err) => {
                // forget the gain, so the next call scans again
                tracing::warn!(error = %err, "cannot list webhook endpoints for new partitions");
                let mut state = self.state();
                for shard in gained {
                    state.assigned.remove(&shard);
                }
            }
        }
    }

    /// Called by a worker that found its queue empty: `true` (and the slot is gone) unless it
    /// was woken meanwhile.
    fn may_exit(&self, queue: &QueueId, generation: u64) -> bool {
        let mut state = self.state();
        match state.workers.get_mut(queue) {
            Some(slot) if slot.generation == generation && slot.woken => {
                slot.woken = false;
                false
            }
            Some(slot) if slot.generation == generation => {
                state.workers.remove(queue);
                true
            }
            // cancelled, and maybe replaced by a later worker: leave its slot alone
            _ => true,
        }
    }

    /// Queues with a running worker (for tests and the log).
    pub fn running(&self) -> usize {
        self.state().workers.len()
    }
}

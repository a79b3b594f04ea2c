//! librdkafka's built-in mock cluster, kept alive on a thread of its own for as long as the
//! [`MockKafka`] handle lives, with the pipeline's topics created on it.
//!
//! Guarantees: every topic of [`notify_common::topics::layout`] exists before
//! [`MockKafka::start`] returns (the mock does not implement the CreateTopics request, so they
//! are made through the mock API), and the cluster is destroyed when the handle is dropped.
//!
//! Not guaranteed: durability. The mock keeps each partition's log in memory and drops its
//! oldest record sets once the partition holds more than [`PARTITION_LOG_LIMIT_BYTES`] (or
//! 100,000 record sets), consumed or not (librdkafka `rdkafka_mock.c`, log append). Whoever
//! produces to it must keep what is unconsumed well below that; the demo's sender bounds the
//! notifications that are accepted but not yet finished for this reason.

use std::sync::mpsc;
use std::thread::JoinHandle;

use notify_common::topics::TopicSpec;
use rdkafka::mocking::MockCluster;

use crate::EmbeddedError;

/// Bytes one partition of the mock keeps before it drops its oldest record sets (5 MiB, fixed
/// in librdkafka).
pub const PARTITION_LOG_LIMIT_BYTES: usize = 5 * 1024 * 1024;

/// A running mock cluster. Dropping it stops the cluster.
#[derive(Debug)]
pub struct MockKafka {
    bootstrap: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MockKafka {
    /// Starts a one-broker mock cluster and creates `topics` on it.
    pub fn start(topics: Vec<TopicSpec>) -> Result<Self, EmbeddedError> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, String>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        // the cluster handle is not `Send`; one thread owns it from creation to destruction
        let thread = std::thread::Builder::new()
            .name("mock-kafka".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(cluster) => cluster,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err.to_string()));
                        return;
                    }
                };
                for spec in &topics {
                    if let Err(err) = cluster.create_topic(&spec.name, spec.partitions, 1) {
                        let _ = ready_tx.send(Err(format!("topic {}: {err}", spec.name)));
                        return;
                    }
                }
                if ready_tx.send(Ok(cluster.bootstrap_servers())).is_err() {
                    return;
                }
                // blocks until the handle is dropped (the sender goes away)
                let _ = stop_rx.recv();
                drop(cluster);
            })
            .map_err(|err| EmbeddedError::Kafka(format!("cannot start the mock cluster: {err}")))?;
        let bootstrap = ready_rx
            .recv()
            .map_err(|_| EmbeddedError::Kafka("mock cluster thread ended early".into()))?
            .map_err(|err| EmbeddedError::Kafka(format!("mock cluster: {err}")))?;
        Ok(Self {
            bootstrap,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The cluster's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }
}

impl Drop for MockKafka {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

//! Gives a Kafka client its bootstrap servers back once it has no broker left to connect to.
//!
//! librdkafka (2.10 onwards; this build links 2.12.1) forgets every broker that a Metadata
//! response does not list, and forgets the bootstrap servers as soon as it has learned a broker.
//! A broker in controlled shutdown answers Metadata listing no broker at all (it has fenced
//! itself), so a client whose metadata request lands in that window is left with no broker, and
//! with no broker it never asks again: it does not reconnect when the broker is back. Upstream
//! this is librdkafka issue 5301, still open. Seen in the end-to-end Kafka outage test: a
//! dispatcher lane's consumer logged "no broker available for coordinator query" for minutes
//! after the restarted broker answered, and stayed out of its group.
//!
//! [`Rebootstrap`] reads each statistics report of its client; when the report lists no broker
//! but the client's own group coordinator handle, it adds the client's `bootstrap.servers` back
//! (`rd_kafka_brokers_add`, what librdkafka's own re-bootstrap does) and the client connects,
//! learns the cluster and rejoins its group.
//!
//! Guarantees: a client that lost every broker connects again within a statistics interval
//! ([`crate::metrics::STATS_INTERVAL_MS`]) of the broker answering; a client that knows any
//! broker is left alone. Counted in [`REBOOTSTRAPS_TOTAL`] and logged once per repair.
//! Not covered: a client whose statistics are not served (a consumer nobody polls); producers
//! are replaced instead ([`crate::kafka_publisher`]).

use std::ffi::CString;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use rdkafka::bindings::rd_kafka_t;
use rdkafka::client::Client;
use rdkafka::config::ClientConfig;
use rdkafka::{ClientContext, Statistics};

/// Times a client was given its bootstrap servers back, label `group`.
pub const REBOOTSTRAPS_TOTAL: &str = "notify_kafka_rebootstraps_total";

static REPAIRS: AtomicU64 = AtomicU64::new(0);

/// How many times a client of this process was given its bootstrap servers back.
pub fn repairs() -> u64 {
    REPAIRS.load(Ordering::Relaxed)
}

/// Whether a statistics report shows a client with no broker to connect to: none it was
/// configured with or learned (the group coordinator's handle and the internal one only
/// forward to those).
pub fn lost_every_broker(stats: &Statistics) -> bool {
    !stats
        .brokers
        .values()
        .any(|broker| broker.source == "learned" || broker.source == "configured")
}

/// The repair of one client, kept in its context.
pub struct Rebootstrap {
    group: String,
    bootstrap: Option<CString>,
    client: AtomicPtr<rd_kafka_t>,
}

impl std::fmt::Debug for Rebootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rebootstrap")
            .field("group", &self.group)
            .field("bootstrap", &self.bootstrap)
            .finish_non_exhaustive()
    }
}

impl Rebootstrap {
    /// The repair of the client `config` builds (its `bootstrap.servers`), in `group`.
    pub fn new(config: &ClientConfig, group: &str) -> Self {
        Self {
            group: group.to_owned(),
            bootstrap: config
                .get("bootstrap.servers")
                .and_then(|servers| CString::new(servers).ok()),
            client: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Binds the repair to `client`, whose context holds it; until then reports are only read.
    pub fn attach<C: ClientContext>(&self, client: &Client<C>) {
        self.client.store(client.native_ptr(), Ordering::Release);
    }

    /// Reads a statistics report; gives the client its bootstrap servers back if it lost every
    /// broker. Call it only from the client's own `ClientContext::stats`: the client is alive
    /// while it reports.
    pub fn observe(&self, stats: &Statistics) {
        if !lost_every_broker(stats) {
            return;
        }
        let client = self.client.load(Ordering::Acquire);
        let Some(bootstrap) = self.bootstrap.as_ref().filter(|_| !client.is_null()) else {
            return;
        };
        let added = add_brokers(client, bootstrap);
        REPAIRS.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(REBOOTSTRAPS_TOTAL, "group" => self.group.clone()).increment(1);
        tracing::warn!(
            group = %self.group,
            client = %stats.name,
            added,
            "the Kafka client had no broker left (librdkafka drops brokers a Metadata answer \
             omits); its bootstrap servers were added back"
        );
    }
}

/// `rd_kafka_brokers_add`: how many of `list` were added.
#[allow(unsafe_code)]
fn add_brokers(client: *mut rd_kafka_t, list: &CString) -> i32 {
    // SAFETY: `client` is the handle of the client whose statistics callback is running (see
    // `Rebootstrap::observe`), so it is alive; `rd_kafka_brokers_add` may be called from any
    // thread, and `list` is a NUL-terminated string that outlives the call (librdkafka copies
    // it).
    unsafe { rdkafka::bindings::rd_kafka_brokers_add(client, list.as_ptr()) }
}

#[cfg(test)]
#[path = "rebootstrap_tests.rs"]
mod tests;

//! The dispatcher against the real stack: deliveries in on real channel topics, the notification
//! log and directory in a real keyspace, statuses, retries and dead letters read back from real
//! topics, committed offsets read from the broker. The provider is the scriptable fake, so each
//! test decides what the provider answers.
//!
//! `harness.rs` holds the harness; `flows.rs` the outcomes of single deliveries,
//! `concurrency.rs` order, rebalances and parked retries; `pause.rs` pauses across a rebalance.

mod concurrency;
mod dlq;
mod flows;
mod harness;
mod pause;

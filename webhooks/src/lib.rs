//! The webhook stage (`notify webhooks`): tenants hear back. It consumes `notify.status` in a
//! consumer group of its own and posts each status event of a tenant to the tenant's
//! registered endpoints as signed JSON.
//!
//! Shape, as every stage: [`consumer`] owns Kafka (it reads a batch, writes what endpoints want
//! into the durable backlog in the store, and only then stores the offsets); [`handler`] is
//! pure (which endpoint gets which event, with what body); [`sender`] posts each endpoint's
//! backlog in order, one worker per (endpoint, partition), retrying on the [`retry`] schedule
//! and dead-lettering after the budget; [`stage`] wires them from configuration.
//!
//! Guarantees: at least once (an event leaves the backlog only after a 2xx or a dead letter);
//! order per delivery (each queue is posted strictly in offset order, and one delivery's
//! statuses share a partition); isolation (a dead or slow endpoint only holds its own queues;
//! its backlog waits in the database, not in memory or in front of others' offsets). Not
//! guaranteed: exactly once (a crash between a 2xx and the backlog delete posts again; the
//! body's `id` lets receivers drop the repeat).

pub mod cache;
pub mod consumer;
pub mod handler;
pub mod metrics;
pub mod payload;
pub mod retry;
pub mod sender;
pub mod sign;
pub mod stage;

//! The delivery engine the consumer and the handler build on: which offsets are in flight and
//! may be stored, per-key queues, the retry tiers (policy and mover), the dead-letter record
//! and the statuses reported for log states. Nothing here knows a provider.

pub(crate) mod dead_letter;
pub mod inflight;
pub(crate) mod keyqueue;
pub(crate) mod retry_mover;
pub(crate) mod retry_policy;
pub(crate) mod status;

pub use retry_mover::TierMover;

//! Dispatchers: one consumer group per channel (APNs, FCM, web push, SMS, email) delivering
//! through its provider with retries, dedup and a dead-letter topic.
//!
//! Each provider implements [`Provider`]: it turns one [`notify_schemas::Delivery`] into one
//! request on the provider's real wire protocol and classifies the answer as an [`Outcome`].
//! Providers never panic on what a provider answers and never log credentials; the handler
//! decides what an outcome means for the log, retries and the dead-letter topic, and the
//! consumer stores an offset only once that is durable.
//!
//! Layout (read in this order):
//! - [`stage`]: wiring and config; builds a channel's dispatcher and the retry movers and runs
//!   them until shutdown.
//! - [`consumer`]: the Kafka consumer loop (lanes, polling, offsets), with the drain on
//!   rebalance and shutdown in [`consumer::drain`].
//! - `handler`: one record to a durable outcome, pure against traits (provider, notification
//!   log, directory, publisher); unit-tested with fakes.
//! - [`engine`]: what the consumer and the handler build on: in-flight offsets, per-key queues,
//!   the retry policy and the retry mover, dead-letter records, delivery statuses.
//! - [`providers`]: the one [`Provider`] trait, the registry building a channel's provider from
//!   config, failover, credentials and the shared HTTP plumbing, and one folder per provider
//!   (`apns`, `fcm`, `webpush`, `sms`, `email`), each split into `config.rs`, `encode.rs`
//!   (pure request building), `classify.rs` where answers need it, `service.rs` (the only
//!   network code) and `tests.rs`.
//! - [`dead_letter_tools`]: operator tooling to list and replay the dead-letter topic
//!   (`notify dlq`).
//! - [`dedup`]: the notification log as the dedup record.
//! - `metrics`: metric names, declared once.

pub mod consumer;
pub mod dead_letter_tools;
pub mod engine;
pub(crate) mod handler;
pub(crate) mod metrics;
pub mod providers;
pub mod stage;
pub mod tracking;

pub use providers::provider::{Outcome, Provider, Reason};

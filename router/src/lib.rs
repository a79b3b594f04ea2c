//! Router stage: consumes `notify.requests`, enriches each request from the directory (users,
//! devices, preferences, templates), applies policy and fans out one delivery per channel and
//! recipient.
//!
//! The pure core, with no Kafka, database, clock or other I/O (time comes in as `now_ms`):
//! - [`plan`]: who receives what on which channel, what is suppressed and why, what waits
//!   (also for a request the scheduler re-emitted);
//! - [`quiet`]: the end of a user's quiet hours in their time zone;
//! - [`render`]: templates and inline content per channel and locale;
//! - [`fanout`]: `Delivery` and `DeliveryStatus` records from a plan and its rendered content.
//!
//! The routing decision around it, behind store traits (no Kafka; tested with the in-memory
//! stores): [`handler`] (one record in, the records to publish out), reading the directory
//! through [`cache`], the suppression list through [`suppress`], tenants' settings through [`settings`] and applying [`ratelimit`].
//!
//! Kafka and wiring: [`consumer`] (the consume loop, the only part that reads Kafka: batches,
//! retries, offsets after acknowledgement), [`scheduler`] (re-emits deferred requests when due)
//! and [`stage`] (building both from config). Both publish through
//! `notify_common::publish`.

pub mod cache;
pub mod consumer;
pub mod fanout;
pub mod handler;
pub mod metrics;
pub mod plan;
pub mod preference_url;
pub mod publish;
pub mod quiet;
pub mod ratelimit;
pub mod render;
pub mod scheduler;
pub mod settings;
pub mod stage;
pub mod suppress;
pub mod tally;

#[cfg(test)]
mod tests;

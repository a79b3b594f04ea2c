//! Router stage: consumes `notify.requests`, enriches each request from the directory (users,
//! devices, preferences, templates), applies policy and fans out one delivery per channel and
//! recipient.
//!
//! The pure core, with no Kafka, database, clock or other I/O (time comes in as `now_ms`):
//! - [`plan`]: who receives what on which channel, what is suppressed and why, what waits;
//! - [`quiet`]: the end of a user's quiet hours in their time zone;
//! - [`render`]: templates and inline content per channel and locale;
//! - [`fanout`]: `Delivery` and `DeliveryStatus` records from a plan and its rendered content.
//!
//! Around it: [`cache`] (the directory behind a short-lived cache), [`service`] (the Kafka
//! consumer loop, the only part that touches Kafka) and [`stage`] (building it from config).

pub mod cache;
pub mod fanout;
pub mod metrics;
pub mod plan;
pub mod quiet;
pub mod ratelimit;
pub mod render;
pub mod scheduler;
pub mod service;
pub mod stage;

#[cfg(test)]
mod tests;

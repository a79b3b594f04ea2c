//! Dispatchers: one consumer group per channel (APNs, FCM, web push, SMS, email) delivering
//! through its provider with retries, dedup and a dead-letter topic.
//!
//! Each provider lives in its own module and implements [`Provider`]: it turns one
//! [`notify_schemas::Delivery`] into one request on the provider's real wire protocol and
//! classifies the answer as an [`Outcome`]. Providers never panic on what a provider answers and
//! never log credentials; the consumer loop decides what an outcome means for offsets, retries
//! and the dead-letter topic.

pub mod apns;
pub mod context;
pub mod credentials;
pub mod dlq;
pub mod email;
pub mod failover;
pub mod fcm;
pub mod handler;
pub mod http;
pub mod inflight;
pub mod keyqueue;
pub mod metrics;
pub mod policy;
pub mod provider;
pub mod publish;
mod push_http;
pub mod registry;
mod rest;
pub mod retry;
pub mod secret;
pub mod service;
pub mod sms;
pub mod stage;
pub mod status;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod webpush;

pub use provider::{Outcome, Provider, Reason};

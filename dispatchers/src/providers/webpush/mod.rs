//! Web push (RFC 8030) with message encryption (RFC 8291) and VAPID (RFC 8292).
//!
//! [`WebPushProvider`] sends one delivery to a browser's push service: it checks the
//! subscription endpoint against the SSRF guard ([`endpoint`]), encrypts the JSON payload for
//! the subscription's keys ([`crypto`]), signs a VAPID token for the endpoint's origin
//! ([`vapid`]) and classifies the answer (table in [`service`]). The VAPID key is read from a
//! file that can be replaced without a restart.
//!
//! Roles: [`config`] (typed settings), [`encode`] and [`crypto`] and [`vapid`] (pure),
//! [`endpoint`] (address checks, and the client's resolver), [`service`] (the only network
//! code).

mod classify;
pub mod config;
pub mod crypto;
pub mod encode;
pub mod service;
pub mod vapid;

/// The SSRF guard, shared with the tenant webhooks (`notify_common::ssrf`).
pub use notify_common::ssrf as endpoint;

#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod tests;

pub use config::{ConfigError, WebPushConfig};
pub use endpoint::{EndpointError, EndpointPolicy};
pub use service::{WebPushError, WebPushProvider};
pub use vapid::VapidKey;

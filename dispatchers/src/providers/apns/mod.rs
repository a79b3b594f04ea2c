//! APNs: Apple's HTTP/2 provider API with token (JWT) authentication.
//!
//! [`ApnsProvider`] sends one [`notify_schemas::Delivery`] as `POST {base_url}/3/device/<token>`
//! over one long-lived HTTP/2 connection, authenticated with an ES256 provider token that is
//! shared by all requests, reused for 50 minutes, re-minted when the `.p8` file is replaced, and
//! renewed once when APNs refuses it. The `apns-id` header is the delivery id, so a retried
//! delivery carries the id of the first attempt.
//!
//! Outcomes: 200 is sent; 410 and `BadDeviceToken`/`DeviceTokenNotForTopic`/`ExpiredToken` mean
//! the token is gone (with APNs' `timestamp` as `since`); 429 and 5xx are retried, honouring
//! `Retry-After`; a 403 that a new token cannot cure is retried as `provider_auth` (a credential
//! problem never loses the message); 413 and other 400s fail the message; connection errors and
//! timeouts are retried. Files by role: [`config`] (settings), `token` (provider tokens),
//! `encode` (pure request building and classification), `service` (the network).
//!
//! Configuration ([`ApnsConfig`]; `base_url` defaults to production, use
//! `https://api.sandbox.push.apple.com` for development builds of the app):
//!
//! ```toml
//! [dispatch.providers.apns]
//! key_file = "/run/secrets/apns/AuthKey_ABC123DEFG.p8"   # re-read when replaced
//! key_id = "ABC123DEFG"
//! team_id = "DEF123GHIJ"
//! topic = "com.example.app"
//! request_timeout_ms = 10000
//! ```
//!
//! Against the simulator (`notify_sim::apns`): set
//! `base_url` to its URL and `ca_file` to a file holding its CA certificate
//! (`ApnsSim::ca_pem`), and give the simulator the key's public half.

mod classify;
pub mod config;
mod encode;
mod service;
mod token;

#[cfg(test)]
mod tests;

pub use config::{ApnsConfig, ConfigError};
pub use encode::{MAX_COLLAPSE_ID_BYTES, MAX_PAYLOAD_BYTES};
pub use service::ApnsProvider;
pub use token::{TokenError, FORCED_RENEWAL_INTERVAL, REUSE_FOR};

pub use crate::providers::push_http::{ClientError, PushError};

/// Why an [`ApnsProvider`] could not be built.
pub type ApnsError = PushError<ConfigError>;

//! FCM: Firebase Cloud Messaging HTTP v1 with a Google service account.
//!
//! [`FcmProvider`] sends one [`notify_schemas::Delivery`] as
//! `POST {base_url}/v1/projects/{project_id}/messages:send`, authenticated with an OAuth2 access
//! token obtained by the service account's JWT-bearer grant at the file's `token_uri`. The token
//! is cached until a minute before it expires, shared by all sends, and fetched again once when
//! FCM answers 401; a replaced service account file is used from the next send on.
//!
//! Outcomes follow FCM's `errorCode`: `UNREGISTERED` and `SENDER_ID_MISMATCH` mean the token is
//! gone; `INVALID_ARGUMENT` fails the message; `QUOTA_EXCEEDED`, `UNAVAILABLE` and `INTERNAL`
//! are retried, honouring `Retry-After`; `THIRD_PARTY_AUTH_ERROR` and a token endpoint that
//! refuses the account are retried as `provider_auth` (nothing is lost while an operator fixes
//! credentials); connection errors and timeouts are retried. Files by role: [`config`]
//! (settings), `auth` (service account, assertion, cached token), `encode` (pure message building
//! and classification), `service` (the network).
//!
//! Configuration ([`FcmConfig`]; the project and token endpoint come from the service account
//! file, as downloaded from the Firebase console):
//!
//! ```toml
//! [dispatch.providers.fcm]
//! service_account_file = "/run/secrets/fcm/service-account.json"   # re-read when replaced
//! request_timeout_ms = 10000
//! ```
//!
//! Against the simulator (`notify_sim::fcm`): set `base_url`
//! to its URL and write the service account file with `FcmSim::service_account_json`, which
//! points `token_uri` at the simulator.

mod auth;
mod classify;
pub mod config;
mod encode;
mod service;

#[cfg(test)]
mod tests;

pub use auth::{REFRESH_MARGIN, SCOPE};
pub use classify::QUOTA_RETRY_AFTER;
pub use config::{ConfigError, FcmConfig};
pub use encode::{DELIVERY_ID_KEY, MAX_DATA_BYTES};
pub use service::FcmProvider;

pub use crate::providers::push_http::{ClientError, PushError};

/// Why an [`FcmProvider`] could not be built.
pub type FcmError = PushError<ConfigError>;

//! Providers: the one [`Provider`](crate::Provider) trait, the registry that builds a
//! channel's provider from `[dispatch.providers]`, failover between two providers, credential
//! files and secrets, the HTTP plumbing the clients share, and one module per provider.
//!
//! Guarantees: a provider only sends and classifies; what an outcome means for offsets,
//! retries and dead letters is decided by the handler.

pub mod apns;
pub(crate) mod credentials;
pub mod email;
pub(crate) mod failover;
pub mod fcm;
pub(crate) mod http;
pub mod provider;
pub(crate) mod push_http;
pub mod registry;
pub(crate) mod rest;
pub(crate) mod secret;
pub(crate) mod sms;
#[cfg(test)]
mod test_support;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod webpush;

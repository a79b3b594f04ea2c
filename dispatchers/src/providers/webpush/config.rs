//! Configuration of the web push provider.
//!
//! Guarantees: unknown fields are refused; defaults live in this file only; [`WebPushConfig::validate`]
//! rejects values the provider could not work with (a subject that is not a `mailto:` or
//! `https:` contact, a zero timeout, a TTL beyond what push services keep).
//!
//! The provider's table in the dispatcher config, for example:
//!
//! ```toml
//! [webpush]
//! vapid_key_file = "secrets/vapid.pem"   # re-read when replaced
//! subject = "mailto:push-ops@example.com"
//! request_timeout_ms = 10000             # default
//! default_ttl_s = 86400                  # default
//! ```
//!
//! A new key: `openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt`;
//! its public half (`WebPushProvider::public_key`) is the `applicationServerKey` browsers
//! subscribe with, so replacing the key orphans every existing subscription.

use std::path::PathBuf;

use serde::Deserialize;

pub use crate::providers::push_http::DEFAULT_REQUEST_TIMEOUT_MS;
use crate::providers::push_http::{check_request_timeout_ms, default_request_timeout_ms};

/// Default `TTL` when the delivery does not carry one: one day.
pub const DEFAULT_TTL_S: u32 = 86_400;
/// Longest `TTL` we ask for; push services keep messages up to about four weeks.
pub const MAX_TTL_S: u32 = 28 * 86_400;

/// Web push provider settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebPushConfig {
    /// File with the VAPID private key: PKCS#8 PEM, SEC1 PEM, or the raw 32-byte scalar in
    /// base64url. Re-read when it changes.
    pub vapid_key_file: PathBuf,
    /// VAPID `sub` claim: a `mailto:` or `https:` contact for the push service operator.
    pub subject: String,
    /// Time limit of one push request, in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// `TTL` used when the delivery has none, in seconds.
    #[serde(default = "default_ttl_s")]
    pub default_ttl_s: u32,
    /// Test only: allow `http://localhost` and loopback endpoints (simulators, test peers).
    /// Never set in production: it weakens the SSRF guard.
    #[serde(default)]
    pub allow_insecure_loopback: bool,
}

fn default_ttl_s() -> u32 {
    DEFAULT_TTL_S
}

/// A configuration value the provider cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid web push config: {0}")]
pub struct ConfigError(pub String);

impl WebPushConfig {
    /// A configuration with every default: production settings (no insecure endpoints).
    pub fn new(vapid_key_file: impl Into<PathBuf>, subject: impl Into<String>) -> Self {
        Self {
            vapid_key_file: vapid_key_file.into(),
            subject: subject.into(),
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            default_ttl_s: DEFAULT_TTL_S,
            allow_insecure_loopback: false,
        }
    }

    /// Checks the values and their relations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let contact = self
            .subject
            .strip_prefix("mailto:")
            .or_else(|| self.subject.strip_prefix("https://"));
        if contact.is_none_or(|rest| rest.trim().is_empty()) {
            return Err(ConfigError(
                "subject must be a mailto: or https:// contact".to_owned(),
            ));
        }
        check_request_timeout_ms(self.request_timeout_ms).map_err(ConfigError)?;
        if self.default_ttl_s > MAX_TTL_S {
            return Err(ConfigError(format!(
                "default_ttl_s must be at most {MAX_TTL_S}"
            )));
        }
        Ok(())
    }
}

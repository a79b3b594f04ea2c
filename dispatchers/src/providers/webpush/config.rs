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
//! allowed_ports = [443]                  # default
//! # optional: only these push services (exact names, or *.domain for its subdomains)
//! allowed_hosts = ["fcm.googleapis.com", "*.push.services.mozilla.com",
//!                  "*.notify.windows.com", "*.push.apple.com"]
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
    /// Test only: allow `http://localhost` and loopback endpoints (simulators, test peers),
    /// on any port and whatever `allowed_hosts` says. Never set in production: it weakens the
    /// SSRF guard.
    #[serde(default)]
    pub allow_insecure_loopback: bool,
    /// Ports a subscription endpoint may use; any other is refused before a request (the
    /// delivery fails). Default `[443]`, the port of every push service; never empty, never 0.
    #[serde(default = "default_allowed_ports")]
    pub allowed_ports: Vec<u16>,
    /// Push-service hosts a subscription endpoint may name: an exact host name, or
    /// `*.example.com` for any subdomain of `example.com`; case does not matter. Empty (the
    /// default): any public host. Endpoints elsewhere fail without a request.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

fn default_allowed_ports() -> Vec<u16> {
    vec![super::endpoint::DEFAULT_PORT]
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
            allowed_ports: default_allowed_ports(),
            allowed_hosts: Vec::new(),
        }
    }

    /// The SSRF guard's policy these settings ask for.
    pub fn endpoint_policy(&self) -> super::endpoint::EndpointPolicy {
        super::endpoint::EndpointPolicy {
            allow_insecure_loopback: self.allow_insecure_loopback,
            allowed_ports: self.allowed_ports.clone(),
            allowed_hosts: self
                .allowed_hosts
                .iter()
                .map(|host| host.to_ascii_lowercase())
                .collect(),
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
        if self.allowed_ports.is_empty() || self.allowed_ports.contains(&0) {
            return Err(ConfigError(
                "allowed_ports must list at least one port, none of them 0".to_owned(),
            ));
        }
        if let Some(bad) = self.allowed_hosts.iter().find(|h| !is_host_pattern(h)) {
            return Err(ConfigError(format!(
                "allowed_hosts entry {bad:?} must be a host name with a dot (push.example.com) \
                 or *. and one (*.example.com), without scheme, port or path"
            )));
        }
        Ok(())
    }
}

/// `push.example.com` or `*.example.com`: labels of letters, digits and inner hyphens, at
/// least two of them after an optional leading `*.`.
fn is_host_pattern(entry: &str) -> bool {
    let name = entry.strip_prefix("*.").unwrap_or(entry);
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

//! Configuration of the APNs provider.
//!
//! Guarantees: unknown fields are refused; defaults live in this file only;
//! [`ApnsConfig::validate`] rejects values the provider could not work with (a base URL that is
//! not http(s), empty key id, team id or topic, a zero or huge timeout).

use std::path::PathBuf;

use serde::Deserialize;

pub use crate::providers::push_http::DEFAULT_REQUEST_TIMEOUT_MS;
use crate::providers::push_http::{
    check_request_timeout_ms, check_url, default_request_timeout_ms,
};

/// Apple's production endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.push.apple.com";

/// APNs provider settings: one team, one key, one app (topic).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsConfig {
    /// `https://api.push.apple.com` (production) or `https://api.sandbox.push.apple.com`
    /// (development); a simulator's URL in tests.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The `.p8` signing key (PKCS#8 PEM, P-256); re-read when it changes on disk.
    pub key_file: PathBuf,
    /// The key's 10-character Key ID: the provider token's `kid`.
    pub key_id: String,
    /// The 10-character Team ID: the provider token's `iss`.
    pub team_id: String,
    /// The app's bundle id: the `apns-topic` header.
    pub topic: String,
    /// Extra root CA certificate (PEM) to trust, for simulators; the public roots are always
    /// trusted.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Time limit of one push request, in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

/// A configuration value the provider cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid apns config: {0}")]
pub struct ConfigError(pub String);

impl ApnsConfig {
    /// A production configuration with every default.
    pub fn new(
        key_file: impl Into<PathBuf>,
        key_id: impl Into<String>,
        team_id: impl Into<String>,
        topic: impl Into<String>,
    ) -> Self {
        Self {
            base_url: default_base_url(),
            key_file: key_file.into(),
            key_id: key_id.into(),
            team_id: team_id.into(),
            topic: topic.into(),
            ca_file: None,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
        }
    }

    /// Checks the values and their relations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("base_url", &self.base_url).map_err(ConfigError)?;
        for (name, value) in [
            ("key_id", &self.key_id),
            ("team_id", &self.team_id),
            ("topic", &self.topic),
        ] {
            if value.trim().is_empty() || value.chars().any(|c| c.is_control()) {
                return Err(ConfigError(format!("{name} must be a non-empty string")));
            }
        }
        check_request_timeout_ms(self.request_timeout_ms).map_err(ConfigError)
    }

    /// `base_url` without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_unknown_fields_are_refused() {
        let config: ApnsConfig = serde_json::from_value(serde_json::json!({
            "key_file": "key.p8", "key_id": "ABC123DEFG", "team_id": "TEAM123456",
            "topic": "com.example.app"
        }))
        .unwrap();
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
        assert_eq!(config.request_timeout_ms, DEFAULT_REQUEST_TIMEOUT_MS);
        config.validate().unwrap();
        let unknown = serde_json::from_value::<ApnsConfig>(serde_json::json!({
            "key_file": "k", "key_id": "a", "team_id": "b", "topic": "c", "timeout": 3
        }));
        assert!(unknown.is_err());
    }

    #[test]
    fn validate_refuses_bad_values() {
        let good = ApnsConfig::new("k.p8", "KEY", "TEAM", "com.example.app");
        let mut bad = good.clone();
        bad.base_url = "ftp://example.com".into();
        assert!(bad.validate().is_err());
        let mut bad = good.clone();
        bad.topic = " ".into();
        assert!(bad.validate().is_err());
        let mut bad = good.clone();
        bad.request_timeout_ms = 0;
        assert!(bad.validate().is_err());
        assert_eq!(
            ApnsConfig {
                base_url: "https://h/".into(),
                ..good
            }
            .base(),
            "https://h"
        );
    }
}

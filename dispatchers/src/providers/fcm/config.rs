//! Configuration of the FCM provider.
//!
//! Guarantees: unknown fields are refused; defaults live in this file only;
//! [`FcmConfig::validate`] rejects values the provider could not work with. The token endpoint
//! and project come from the service account file, not from here, so pointing a test at a
//! simulator means writing a service account file whose `token_uri` is the simulator's.

use std::path::PathBuf;

use serde::Deserialize;

pub use crate::providers::push_http::DEFAULT_REQUEST_TIMEOUT_MS;
use crate::providers::push_http::{
    check_request_timeout_ms, check_url, default_request_timeout_ms,
};

/// Google's FCM endpoint.
pub const DEFAULT_BASE_URL: &str = "https://fcm.googleapis.com";

/// FCM provider settings: one service account, one Firebase project.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmConfig {
    /// `https://fcm.googleapis.com`; a simulator's URL in tests.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The service account JSON key (`client_email`, `private_key`, `token_uri`,
    /// `project_id`); re-read when it changes on disk.
    pub service_account_file: PathBuf,
    /// Extra root CA certificate (PEM) to trust, for simulators; the public roots are always
    /// trusted.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Time limit of one request, in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

/// A configuration value the provider cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fcm config: {0}")]
pub struct ConfigError(pub String);

impl FcmConfig {
    /// A production configuration with every default.
    pub fn new(service_account_file: impl Into<PathBuf>) -> Self {
        Self {
            base_url: default_base_url(),
            service_account_file: service_account_file.into(),
            ca_file: None,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
        }
    }

    /// Checks the values and their relations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("base_url", &self.base_url).map_err(ConfigError)?;
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
    fn defaults_apply_and_bad_values_are_refused() {
        let config: FcmConfig =
            serde_json::from_value(serde_json::json!({ "service_account_file": "sa.json" }))
                .unwrap();
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
        assert_eq!(config.request_timeout_ms, DEFAULT_REQUEST_TIMEOUT_MS);
        config.validate().unwrap();
        assert!(serde_json::from_value::<FcmConfig>(
            serde_json::json!({ "service_account_file": "sa.json", "project": "p" })
        )
        .is_err());
        let mut bad = config.clone();
        bad.base_url = "fcm.googleapis.com".into();
        assert!(bad.validate().is_err());
        let mut bad = config;
        bad.request_timeout_ms = 0;
        assert!(bad.validate().is_err());
    }
}

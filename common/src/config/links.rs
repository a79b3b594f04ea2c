//! The `[links]` section: signed links the recipients of a message follow back to the gateway
//! (tracked clicks, the open pixel, one-click unsubscribe, the preference page).

use serde::{Deserialize, Serialize};

use super::SecretConfig;

/// Where links point and the keys that sign them; off while `public_base_url` is unset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinksConfig {
    /// The gateway's address as recipients reach it (`https://notify.example.com`), without a
    /// trailing slash; links are `<public_base_url>/t/c/<token>` and so on.
    pub public_base_url: Option<String>,
    /// Signing keys, each at least 32 bytes; the first signs, every one verifies, so a key is
    /// rotated by putting the new one first and dropping the old one once its links expired.
    pub keys: Vec<SecretConfig>,
    /// How long a tracked click or open link works after the send.
    pub tracking_ttl_s: u64,
    /// How long an unsubscribe or preference-page link works after the send.
    pub preferences_ttl_s: u64,
}

impl Default for LinksConfig {
    fn default() -> Self {
        Self {
            public_base_url: None,
            keys: Vec::new(),
            tracking_ttl_s: 30 * 24 * 60 * 60,
            preferences_ttl_s: 90 * 24 * 60 * 60,
        }
    }
}

//! What goes into a push message besides the encryption: the JSON payload the service worker
//! reads, and the RFC 8030 `TTL`, `Urgency` and `Topic` header values. Pure functions.
//!
//! Guarantees: the payload always carries the delivery id (so the browser side and the
//! simulators can recognise replays); `Topic` is always a valid RFC 8030 topic (at most 32
//! characters of the base64url alphabet): a collapse key that is not one is replaced by a
//! digest of it, so equal keys still collapse; `TTL` never exceeds the configured maximum nor
//! the delivery's remaining lifetime.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use notify_schemas::records::{Priority, RenderedPush, TimestampMillis};
use notify_schemas::Delivery;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::config::MAX_TTL_S;

/// The JSON document a service worker receives in its `push` event.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    /// Notification title.
    pub title: &'a str,
    /// Notification body.
    pub body: &'a str,
    /// Custom key/values.
    pub data: &'a std::collections::BTreeMap<String, String>,
    /// Image URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<&'a str>,
    /// URL to open on click.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<&'a str>,
    /// Our delivery id.
    pub delivery_id: String,
}

/// The payload bytes of a delivery's push content.
pub fn payload(delivery: &Delivery, push: &RenderedPush) -> Vec<u8> {
    let payload = Payload {
        title: &push.title,
        body: &push.body,
        data: &push.data,
        image: push.image_url.as_deref(),
        url: push.click_url.as_deref(),
        delivery_id: delivery.delivery_id.to_string(),
    };
    // Serialising borrowed strings and a string map cannot fail.
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// RFC 8030 `Urgency`: `high` for critical and transactional traffic, `low` for bulk.
pub fn urgency(priority: Priority) -> &'static str {
    match priority {
        Priority::Critical | Priority::High => "high",
        Priority::Normal => "normal",
        Priority::Bulk => "low",
    }
}

/// `TTL` in seconds: the delivery's own, else `default_ttl_s`; negative values mean 0; never
/// more than [`MAX_TTL_S`] nor past `expires_at` (0 when already past).
pub fn ttl(
    ttl_seconds: Option<i32>,
    default_ttl_s: u32,
    expires_at: Option<TimestampMillis>,
    now_ms: TimestampMillis,
) -> u32 {
    let wanted = match ttl_seconds {
        Some(s) => u32::try_from(s).unwrap_or(0),
        None => default_ttl_s,
    }
    .min(MAX_TTL_S);
    match expires_at {
        Some(at) => {
            let left_s = (at - now_ms).max(0) / 1000;
            wanted.min(u32::try_from(left_s).unwrap_or(u32::MAX))
        }
        None => wanted,
    }
}

/// RFC 8030 `Topic` for a collapse key: the key itself when it is at most 32 base64url
/// characters, else the first 24 bytes of its SHA-256 in base64url (exactly 32 characters).
/// `None` for an empty key.
pub fn topic(collapse_key: &str) -> Option<String> {
    if collapse_key.is_empty() {
        return None;
    }
    let valid = collapse_key.len() <= 32
        && collapse_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        return Some(collapse_key.to_owned());
    }
    let digest = Sha256::digest(collapse_key.as_bytes());
    Some(URL_SAFE_NO_PAD.encode(&digest[..24]))
}

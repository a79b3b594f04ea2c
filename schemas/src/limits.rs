//! What a provider accepts, measured on the content the pipeline carries: push payload sizes as
//! the dispatchers encode them, SMS segments, email size and a subject that is safe as a header.
//!
//! One set of rules for both places content is checked: ingest checks inline content when a
//! request arrives, the router checks every rendered delivery (template or inline, whoever
//! published the request) before it is produced. Content that passes here is within what the
//! provider takes and far below a Kafka record's limit.
//!
//! Not guaranteed: that a provider will not refuse it for other reasons. The push estimates use
//! the compact JSON a dispatcher sends and count `image_url` and `click_url` as custom keys, so
//! they err on the large side by a few dozen bytes at most.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::records::{Channel, RenderedContent, RenderedEmail, RenderedPush};
use crate::sms::sms_segments;

/// Largest APNs payload for a regular (non-VoIP) notification.
pub const APNS_MAX_PAYLOAD_BYTES: usize = 4096;
/// Largest FCM message payload (notification and data) for a token send.
pub const FCM_MAX_PAYLOAD_BYTES: usize = 4096;
/// Largest web push plaintext: push services must accept 4096-byte bodies, and RFC 8291 spends
/// 86 bytes of header, 1 delimiter byte and a 16-byte tag of them.
pub const WEBPUSH_MAX_PAYLOAD_BYTES: usize = 4096 - 86 - 1 - 16;
/// Longest email subject, in characters (RFC 5322 §2.1.1 line limit).
pub const MAX_SUBJECT_CHARS: usize = 998;
/// Default cap on one email (subject, html and text together), in bytes: a quarter of a Kafka
/// record's default limit, so a delivery with its envelope always fits.
pub const DEFAULT_EMAIL_MAX_BYTES: usize = 256 * 1024;
/// Default cap on SMS segments.
pub const DEFAULT_SMS_MAX_SEGMENTS: u32 = 10;

/// The caps that are configurable; push caps are the providers' own and fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentLimits {
    /// Most segments an SMS may take.
    pub sms_max_segments: u32,
    /// Largest email (subject, html and text), in bytes.
    pub email_max_bytes: usize,
}

impl Default for ContentLimits {
    fn default() -> Self {
        Self {
            sms_max_segments: DEFAULT_SMS_MAX_SEGMENTS,
            email_max_bytes: DEFAULT_EMAIL_MAX_BYTES,
        }
    }
}

/// Why content cannot be sent as it is. Permanent: the same content fails the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// Larger than the channel allows.
    #[error("too large for {channel}: {size} {unit} (at most {limit})")]
    TooLarge {
        /// The channel.
        channel: Channel,
        /// Its size, in `unit`.
        size: usize,
        /// The most allowed, in `unit`.
        limit: usize,
        /// `bytes` or `segments`.
        unit: &'static str,
    },
    /// An email subject with a line break or another control character, which would let the
    /// content add mail headers.
    #[error("email subject must not contain line breaks or other control characters")]
    SubjectControl,
    /// An email subject longer than a header line may be.
    #[error("email subject is longer than {MAX_SUBJECT_CHARS} characters")]
    SubjectTooLong,
}

impl ContentLimits {
    /// Checks `content` for `channel`: push payload size per provider, SMS segments, email
    /// size and subject.
    pub fn check(&self, channel: Channel, content: &RenderedContent) -> Result<(), ContentError> {
        let too_large = |size: usize, limit: usize, unit| {
            if size > limit {
                Err(ContentError::TooLarge {
                    channel,
                    size,
                    limit,
                    unit,
                })
            } else {
                Ok(())
            }
        };
        match content {
            RenderedContent::Push(push) => {
                let (size, limit) = push_payload(channel, push);
                too_large(size, limit, "bytes")
            }
            RenderedContent::Sms(sms) => {
                let segments = sms_segments(&sms.text).1;
                too_large(
                    segments as usize,
                    self.sms_max_segments as usize,
                    "segments",
                )
            }
            RenderedContent::Email(email) => {
                check_subject(&email.subject)?;
                too_large(email_bytes(email), self.email_max_bytes, "bytes")
            }
        }
    }
}

/// Checks an email subject: at most [`MAX_SUBJECT_CHARS`], no control characters.
pub fn check_subject(subject: &str) -> Result<(), ContentError> {
    if subject.chars().any(char::is_control) {
        return Err(ContentError::SubjectControl);
    }
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(ContentError::SubjectTooLong);
    }
    Ok(())
}

/// The size of `push` as `channel`'s provider receives it, and that provider's limit. For a
/// channel that is not a push channel, the largest of the three.
pub fn push_payload(channel: Channel, push: &RenderedPush) -> (usize, usize) {
    match channel {
        Channel::Apns => (apns_payload_bytes(push), APNS_MAX_PAYLOAD_BYTES),
        Channel::Fcm => (fcm_payload_bytes(push), FCM_MAX_PAYLOAD_BYTES),
        Channel::WebPush => (webpush_payload_bytes(push), WEBPUSH_MAX_PAYLOAD_BYTES),
        Channel::Sms | Channel::Email => (
            apns_payload_bytes(push)
                .max(fcm_payload_bytes(push))
                .max(webpush_payload_bytes(push)),
            WEBPUSH_MAX_PAYLOAD_BYTES,
        ),
    }
}

/// Bytes of an email's subject, html and text together.
pub fn email_bytes(email: &RenderedEmail) -> usize {
    email.subject.len()
        + email.html.as_deref().map_or(0, str::len)
        + email.text.as_deref().map_or(0, str::len)
}

/// Size of the APNs payload a dispatcher would send: `aps` with alert, sound, badge and
/// `mutable-content` (for an image), plus the data keys and URLs at the top level.
pub fn apns_payload_bytes(push: &RenderedPush) -> usize {
    let mut aps = Map::new();
    aps.insert(
        "alert".into(),
        json!({ "title": push.title, "body": push.body }),
    );
    if let Some(sound) = &push.sound {
        aps.insert("sound".into(), json!(sound));
    }
    if let Some(badge) = push.badge {
        aps.insert("badge".into(), json!(badge));
    }
    if push.image_url.is_some() {
        aps.insert("mutable-content".into(), json!(1));
    }
    let mut payload = Map::new();
    payload.insert("aps".into(), Value::Object(aps));
    insert_urls(&mut payload, push);
    insert_data(&mut payload, &push.data);
    json_len(&Value::Object(payload))
}

/// Size of the FCM message content a dispatcher would send: `notification` (title, body,
/// image), `data` with the URLs, and the Android sound.
pub fn fcm_payload_bytes(push: &RenderedPush) -> usize {
    let mut notification = Map::new();
    notification.insert("title".into(), json!(push.title));
    notification.insert("body".into(), json!(push.body));
    if let Some(image) = &push.image_url {
        notification.insert("image".into(), json!(image));
    }
    let mut data = Map::new();
    insert_data(&mut data, &push.data);
    if let Some(url) = &push.click_url {
        data.insert("click_url".into(), json!(url));
    }
    let mut message = Map::new();
    message.insert("notification".into(), Value::Object(notification));
    if !data.is_empty() {
        message.insert("data".into(), Value::Object(data));
    }
    if let Some(sound) = &push.sound {
        message.insert(
            "android".into(),
            json!({ "notification": { "sound": sound } }),
        );
    }
    json_len(&Value::Object(message))
}

/// Size of the web push plaintext a dispatcher would encrypt: title, body, URLs and data as
/// one JSON object for the service worker.
pub fn webpush_payload_bytes(push: &RenderedPush) -> usize {
    let mut payload = Map::new();
    payload.insert("title".into(), json!(push.title));
    payload.insert("body".into(), json!(push.body));
    insert_urls(&mut payload, push);
    if !push.data.is_empty() {
        payload.insert("data".into(), json!(push.data));
    }
    json_len(&Value::Object(payload))
}

fn insert_urls(payload: &mut Map<String, Value>, push: &RenderedPush) {
    if let Some(url) = &push.image_url {
        payload.insert("image_url".into(), json!(url));
    }
    if let Some(url) = &push.click_url {
        payload.insert("click_url".into(), json!(url));
    }
}

fn insert_data(payload: &mut Map<String, Value>, data: &BTreeMap<String, String>) {
    for (key, value) in data {
        payload.insert(key.clone(), json!(value));
    }
}

fn json_len(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{RenderedEmail, RenderedSms};

    fn push(body: &str) -> RenderedPush {
        RenderedPush::text("t".into(), body.into(), BTreeMap::new())
    }

    fn email(subject: &str, html: usize) -> RenderedContent {
        RenderedContent::Email(RenderedEmail {
            subject: subject.into(),
            html: Some("h".repeat(html)),
            text: None,
            from: "a@example.com".into(),
            reply_to: None,
        })
    }

    #[test]
    fn push_is_measured_per_provider() {
        let limits = ContentLimits::default();
        let fits = RenderedContent::Push(push(&"b".repeat(3_980)));
        assert!(limits.check(Channel::Apns, &fits).is_ok());
        assert!(limits.check(Channel::Fcm, &fits).is_ok());
        // web push has 103 bytes less room than APNs
        let err = limits.check(Channel::WebPush, &fits).unwrap_err();
        assert_eq!(
            err,
            ContentError::TooLarge {
                channel: Channel::WebPush,
                size: 4_003,
                limit: WEBPUSH_MAX_PAYLOAD_BYTES,
                unit: "bytes"
            }
        );
        assert!(err.to_string().starts_with("too large for "), "{err}");
        let over = RenderedContent::Push(push(&"b".repeat(4_100)));
        assert!(matches!(
            limits.check(Channel::Apns, &over),
            Err(ContentError::TooLarge { limit: 4096, .. })
        ));
    }

    #[test]
    fn sms_is_capped_in_segments() {
        let limits = ContentLimits {
            sms_max_segments: 2,
            ..ContentLimits::default()
        };
        let sms = |n| {
            RenderedContent::Sms(RenderedSms {
                text: "a".repeat(n),
                segments: 0,
            })
        };
        assert!(limits.check(Channel::Sms, &sms(306)).is_ok());
        assert_eq!(
            limits.check(Channel::Sms, &sms(307)),
            Err(ContentError::TooLarge {
                channel: Channel::Sms,
                size: 3,
                limit: 2,
                unit: "segments"
            })
        );
    }

    #[test]
    fn email_is_capped_and_its_subject_stays_one_header_line() {
        let limits = ContentLimits {
            email_max_bytes: 1_000,
            ..ContentLimits::default()
        };
        assert!(limits.check(Channel::Email, &email("Hi", 998)).is_ok());
        assert!(matches!(
            limits.check(Channel::Email, &email("Hi", 999)),
            Err(ContentError::TooLarge { size: 1_001, .. })
        ));
        assert_eq!(
            limits.check(Channel::Email, &email("Hi\r\nBcc: x@example.com", 10)),
            Err(ContentError::SubjectControl)
        );
        assert_eq!(
            limits.check(Channel::Email, &email(&"s".repeat(999), 10)),
            Err(ContentError::SubjectTooLong)
        );
    }
}

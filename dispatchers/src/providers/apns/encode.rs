//! Pure APNs encoding: a [`Delivery`] to the request's path, headers and payload. Nothing here
//! touches the network; answers are classified in `classify.rs`.
//!
//! Guarantees: a delivery APNs would refuse for its shape (not a device token or push content,
//! a token that is not hex, a collapse id over 64 bytes, a payload over 4096 bytes) becomes an
//! [`Outcome`] without a request. The payload is `{"aps":{"alert":{"title","body"},"sound",
//! "badge"}}` plus the delivery's data keys at the top level (`aps` itself cannot be
//! overridden); `image_url` and `click_url` are added as keys of the same names unless data
//! already has them, and an image sets `mutable-content` so a service extension can fetch it.
//! A delivery with nothing to show (no title, body, image, sound or badge) goes as a background
//! push: `{"aps":{"content-available":1}}`, push type `background`, priority 5 (APNs refuses 10
//! for it).

use notify_schemas::records::Priority;
use notify_schemas::Delivery;
use serde_json::{json, Map, Value};

use crate::providers::provider::{Outcome, Reason};
use crate::providers::push_http::{push_parts, TokenShape};

/// Largest payload APNs takes for a regular (non-VoIP) notification.
pub const MAX_PAYLOAD_BYTES: usize = 4096;
/// Longest `apns-collapse-id`, in bytes.
pub const MAX_COLLAPSE_ID_BYTES: usize = 64;
/// Longest device token we put in a path (real ones are 64 hex digits; longer ones exist).
pub const MAX_TOKEN_CHARS: usize = 200;
const TOKEN_SHAPE: TokenShape = TokenShape {
    max_chars: MAX_TOKEN_CHARS,
    byte_ok: |b| b.is_ascii_hexdigit(),
    detail: "device token is not hex",
};

/// One APNs request, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApnsRequest {
    /// Hex device token: the last path segment.
    pub token: String,
    /// `apns-id`: the delivery id, so APNs and the simulator can tell a retry from a new push.
    pub apns_id: String,
    /// `apns-push-type`: `alert`, or `background` when there is nothing to show.
    pub push_type: &'static str,
    /// `apns-priority`: 10 now, 5 power-aware.
    pub priority: u8,
    /// `apns-expiration`: epoch seconds, 0 = deliver once, do not store.
    pub expiration: i64,
    /// `apns-collapse-id`.
    pub collapse_id: Option<String>,
    /// JSON payload.
    pub payload: Vec<u8>,
}

/// Builds the request for `delivery`; `now_s` is the current time in epoch seconds.
pub(crate) fn encode(delivery: &Delivery, now_s: i64) -> Result<ApnsRequest, Outcome> {
    let (token, push) = push_parts(delivery, "apns", &TOKEN_SHAPE)?;
    if let Some(collapse) = &push.collapse_key {
        if collapse.len() > MAX_COLLAPSE_ID_BYTES {
            return Err(Outcome::failed(
                Reason::BadMessage,
                format!("collapse id longer than {MAX_COLLAPSE_ID_BYTES} bytes"),
            ));
        }
    }

    let background = push.title.is_empty()
        && push.body.is_empty()
        && push.image_url.is_none()
        && push.sound.is_none()
        && push.badge.is_none();
    let mut aps = Map::new();
    if background {
        aps.insert("content-available".to_owned(), Value::from(1));
    } else {
        aps.insert(
            "alert".to_owned(),
            json!({ "title": push.title, "body": push.body }),
        );
    }
    if let Some(sound) = &push.sound {
        aps.insert("sound".to_owned(), Value::String(sound.clone()));
    }
    if let Some(badge) = push.badge {
        aps.insert("badge".to_owned(), Value::from(badge));
    }
    if push.image_url.is_some() {
        aps.insert("mutable-content".to_owned(), Value::from(1));
    }
    let mut payload = Map::new();
    for (key, value) in &push.data {
        if key != "aps" {
            payload.insert(key.clone(), Value::String(value.clone()));
        }
    }
    for (key, value) in [
        ("image_url", &push.image_url),
        ("click_url", &push.click_url),
    ] {
        if let Some(value) = value {
            payload
                .entry(key)
                .or_insert_with(|| Value::String(value.clone()));
        }
    }
    payload.insert("aps".to_owned(), Value::Object(aps));
    let payload = serde_json::to_vec(&Value::Object(payload))
        .map_err(|e| Outcome::failed(Reason::BadMessage, format!("payload not encodable: {e}")))?;
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(Outcome::failed(
            Reason::BadMessage,
            format!(
                "payload is {} bytes, apns takes {MAX_PAYLOAD_BYTES}",
                payload.len()
            ),
        ));
    }

    Ok(ApnsRequest {
        token: token.to_owned(),
        apns_id: delivery.delivery_id.hyphenated().to_string(),
        push_type: if background { "background" } else { "alert" },
        priority: if background {
            5
        } else {
            priority(delivery.priority)
        },
        expiration: expiration(push.ttl_seconds, delivery.expires_at, now_s),
        collapse_id: push.collapse_key.clone(),
        payload,
    })
}

/// `apns-priority` for a lane: transactional traffic now, the rest power-aware.
pub(crate) fn priority(lane: Priority) -> u8 {
    match lane {
        Priority::Critical | Priority::High => 10,
        Priority::Normal | Priority::Bulk => 5,
    }
}

/// `apns-expiration`: the earlier of now + TTL and `expires_at` (epoch millis), in epoch seconds;
/// 0 (deliver once, never store) when neither is given or the time has already passed.
pub(crate) fn expiration(ttl_seconds: Option<i32>, expires_at_ms: Option<i64>, now_s: i64) -> i64 {
    let from_ttl = ttl_seconds
        .filter(|t| *t >= 0)
        .map(|t| now_s + i64::from(t));
    let from_deadline = expires_at_ms.map(|ms| ms.div_euclid(1000));
    let at = match (from_ttl, from_deadline) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(0),
    };
    if at <= now_s {
        0
    } else {
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify_schemas::{samples, Recipient, RenderedContent};

    use crate::providers::test_support::push_delivery;

    const NOW: i64 = 1_800_000_000;

    fn with_push(edit: impl FnOnce(&mut notify_schemas::records::RenderedPush)) -> Delivery {
        let mut delivery = push_delivery();
        if let RenderedContent::Push(push) = &mut delivery.content {
            edit(push);
        }
        delivery
    }

    #[test]
    fn the_payload_has_aps_and_the_data_keys() {
        let request = encode(&push_delivery(), NOW).unwrap();
        let payload: Value = serde_json::from_slice(&request.payload).unwrap();
        assert_eq!(payload["aps"]["alert"]["title"], "Your order shipped");
        assert_eq!(payload["aps"]["sound"], "default");
        assert_eq!(payload["aps"]["badge"], 3);
        assert_eq!(payload["aps"]["mutable-content"], 1);
        assert_eq!(payload["order_id"], "1234");
        assert_eq!(payload["click_url"], "acme://orders/1234");
        assert_eq!(request.priority, 10);
        assert_eq!(request.expiration, NOW + 86_400);
        assert_eq!(request.collapse_id.as_deref(), Some("order-1234"));
        assert_eq!(request.apns_id, push_delivery().delivery_id.to_string());
    }

    #[test]
    fn nothing_to_show_is_a_background_push_at_priority_five() {
        let mut delivery = samples::minimal_delivery();
        delivery.priority = Priority::Critical;
        delivery.recipient = push_delivery().recipient;
        let request = encode(&delivery, NOW).unwrap();
        assert_eq!(request.push_type, "background");
        assert_eq!(request.priority, 5);
        let payload: Value = serde_json::from_slice(&request.payload).unwrap();
        assert_eq!(payload["aps"], json!({ "content-available": 1 }));
        assert_eq!(encode(&push_delivery(), NOW).unwrap().push_type, "alert");
    }

    #[test]
    fn data_cannot_replace_aps() {
        let delivery = with_push(|p| {
            p.data.insert("aps".into(), "gotcha".into());
        });
        let payload: Value =
            serde_json::from_slice(&encode(&delivery, NOW).unwrap().payload).unwrap();
        assert!(payload["aps"].is_object());
    }

    #[test]
    fn expiration_takes_the_earlier_deadline_and_zero_when_none_or_past() {
        assert_eq!(expiration(None, None, NOW), 0);
        assert_eq!(expiration(Some(60), None, NOW), NOW + 60);
        assert_eq!(expiration(Some(0), None, NOW), 0);
        assert_eq!(
            expiration(Some(600), Some((NOW + 30) * 1000), NOW),
            NOW + 30
        );
        assert_eq!(expiration(None, Some((NOW - 5) * 1000), NOW), 0);
        assert_eq!(expiration(Some(-4), None, NOW), 0);
    }

    #[test]
    fn priority_follows_the_lane() {
        assert_eq!(priority(Priority::Critical), 10);
        assert_eq!(priority(Priority::High), 10);
        assert_eq!(priority(Priority::Normal), 5);
        assert_eq!(priority(Priority::Bulk), 5);
    }

    #[test]
    fn refusals_without_a_request() {
        let long_collapse = with_push(|p| p.collapse_key = Some("c".repeat(65)));
        assert!(matches!(
            encode(&long_collapse, NOW),
            Err(Outcome::Failed {
                reason: Reason::BadMessage,
                ..
            })
        ));
        let mut not_hex = push_delivery();
        not_hex.recipient = Recipient::DeviceToken(notify_schemas::DeviceToken {
            token: "abc/../../x".into(),
            device_id: None,
        });
        assert!(matches!(
            encode(&not_hex, NOW),
            Err(Outcome::InvalidRecipient {
                reason: Reason::TokenInvalid,
                ..
            })
        ));
        let sms = samples::full_sms_delivery();
        assert!(matches!(
            encode(&sms, NOW),
            Err(Outcome::Failed {
                reason: Reason::Unsupported,
                ..
            })
        ));
    }
}

//! Pure FCM HTTP v1 encoding: a [`Delivery`] to the `messages:send` body. Nothing here touches
//! the network; answers are classified in `classify.rs`.
//!
//! Guarantees: the message carries the delivery id as `data.notify_delivery_id` (FCM has no
//! idempotency key; the simulator and the ledger use it to count duplicates); a delivery FCM
//! would refuse for its shape (not a device token or push content, reserved data keys, data
//! over 4096 bytes) becomes an [`Outcome`] without a request. With no title, body or image the
//! message is data-only, and its APNs part asks for priority 5 as FCM requires.

use std::collections::BTreeMap;

use notify_schemas::records::Priority;
use notify_schemas::Delivery;
use serde_json::{json, Map, Value};

use crate::providers::provider::{Outcome, Reason};
use crate::providers::push_http::{push_parts, TokenShape};

/// Most bytes of `data` (keys and values) FCM takes.
pub const MAX_DATA_BYTES: usize = 4096;
/// Longest TTL FCM takes: four weeks.
pub const MAX_TTL_S: i64 = 2_419_200;
/// The data key carrying the delivery id.
pub const DELIVERY_ID_KEY: &str = "notify_delivery_id";
/// Longest registration token we send.
const MAX_TOKEN_CHARS: usize = 4096;
const TOKEN_SHAPE: TokenShape = TokenShape {
    max_chars: MAX_TOKEN_CHARS,
    byte_ok: |b| b.is_ascii_graphic(),
    detail: "registration token is malformed",
};

/// Builds the `messages:send` body for `delivery`; `now_s` is the current time in epoch seconds.
pub(crate) fn encode(delivery: &Delivery, now_s: i64) -> Result<Vec<u8>, Outcome> {
    let (token, push) = push_parts(delivery, "fcm", &TOKEN_SHAPE)?;

    let mut data: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in &push.data {
        if is_reserved(key) {
            return Err(Outcome::failed(
                Reason::BadMessage,
                format!("data key {key} is reserved by fcm"),
            ));
        }
        data.insert(key.clone(), value.clone());
    }
    if let Some(link) = &push.click_url {
        data.entry("click_url".to_owned())
            .or_insert_with(|| link.clone());
    }
    data.insert(
        DELIVERY_ID_KEY.to_owned(),
        delivery.delivery_id.hyphenated().to_string(),
    );
    let data_bytes: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum();
    if data_bytes > MAX_DATA_BYTES {
        return Err(Outcome::failed(
            Reason::BadMessage,
            format!("data is {data_bytes} bytes, fcm takes {MAX_DATA_BYTES}"),
        ));
    }

    let urgent = matches!(delivery.priority, Priority::Critical | Priority::High);
    let shows_notification =
        !push.title.is_empty() || !push.body.is_empty() || push.image_url.is_some();
    let ttl_s = ttl(push.ttl_seconds, delivery.expires_at, now_s);

    let mut message = Map::new();
    message.insert("token".to_owned(), Value::String(token.to_owned()));
    if shows_notification {
        let mut notification = json!({ "title": push.title, "body": push.body });
        if let Some(image) = &push.image_url {
            notification["image"] = Value::String(image.clone());
        }
        message.insert("notification".to_owned(), notification);
    }
    message.insert("data".to_owned(), json!(data));

    let mut android = json!({ "priority": if urgent { "HIGH" } else { "NORMAL" } });
    if let Some(ttl_s) = ttl_s {
        android["ttl"] = Value::String(format!("{ttl_s}s"));
    }
    if let Some(collapse) = &push.collapse_key {
        android["collapse_key"] = Value::String(collapse.clone());
    }
    if let (true, Some(sound)) = (shows_notification, &push.sound) {
        android["notification"] = json!({ "sound": sound });
    }
    message.insert("android".to_owned(), android);

    // Data-only messages to iOS must go at priority 5 (FCM refuses 10 for them).
    let apns_priority = if urgent && shows_notification {
        "10"
    } else {
        "5"
    };
    let mut apns_headers = json!({ "apns-priority": apns_priority });
    if let Some(collapse) = &push.collapse_key {
        apns_headers["apns-collapse-id"] = Value::String(collapse.clone());
    }
    if let Some(ttl_s) = ttl_s {
        apns_headers["apns-expiration"] = Value::String((now_s + ttl_s).to_string());
    }
    let mut aps = Map::new();
    if let (true, Some(sound)) = (shows_notification, &push.sound) {
        aps.insert("sound".to_owned(), Value::String(sound.clone()));
    }
    if let Some(badge) = push.badge {
        aps.insert("badge".to_owned(), Value::from(badge));
    }
    if !shows_notification {
        aps.insert("content-available".to_owned(), Value::from(1));
    }
    message.insert(
        "apns".to_owned(),
        json!({ "headers": apns_headers, "payload": { "aps": aps } }),
    );

    let mut webpush = json!({ "headers": { "Urgency": if urgent { "high" } else { "normal" } } });
    if let Some(ttl_s) = ttl_s {
        webpush["headers"]["TTL"] = Value::String(ttl_s.to_string());
    }
    // FCM takes only https links for web push clicks.
    if let Some(link) = push
        .click_url
        .as_ref()
        .filter(|l| l.starts_with("https://"))
    {
        webpush["fcm_options"] = json!({ "link": link });
    }
    message.insert("webpush".to_owned(), webpush);

    serde_json::to_vec(&json!({ "message": message }))
        .map_err(|e| Outcome::failed(Reason::BadMessage, format!("message not encodable: {e}")))
}

/// Data keys FCM reserves for itself ("from", "notification", "message_type", and any key
/// starting with "google" or "gcm"). A `notify_delivery_id` key in the data is overwritten.
fn is_reserved(key: &str) -> bool {
    matches!(key, "from" | "message_type" | "notification")
        || key.starts_with("google")
        || key.starts_with("gcm")
}

/// Seconds FCM may keep the message: the earlier of the TTL and `expires_at` (epoch millis),
/// clamped to FCM's range; `None` leaves FCM's default.
pub(crate) fn ttl(ttl_seconds: Option<i32>, expires_at_ms: Option<i64>, now_s: i64) -> Option<i64> {
    let from_ttl = ttl_seconds.map(i64::from);
    let from_deadline = expires_at_ms.map(|ms| ms.div_euclid(1000) - now_s);
    let ttl = match (from_ttl, from_deadline) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some(ttl.clamp(0, MAX_TTL_S))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify_schemas::{samples, RenderedContent};

    const NOW: i64 = 1_800_000_000;

    fn message(delivery: &Delivery) -> Value {
        serde_json::from_slice::<Value>(&encode(delivery, NOW).unwrap()).unwrap()["message"].clone()
    }

    #[test]
    fn a_full_delivery_becomes_a_v1_message() {
        let mut delivery = samples::full_push_delivery();
        delivery.expires_at = None;
        let m = message(&delivery);
        assert_eq!(m["token"], delivery.recipient.key());
        assert_eq!(
            m["notification"]["image"],
            "https://cdn.example.com/mug.png"
        );
        assert_eq!(m["data"][DELIVERY_ID_KEY], delivery.delivery_id.to_string());
        assert_eq!(m["data"]["click_url"], "acme://orders/1234");
        assert_eq!(m["android"]["priority"], "HIGH");
        assert_eq!(m["android"]["ttl"], "86400s");
        assert_eq!(m["apns"]["headers"]["apns-collapse-id"], "order-1234");
        assert_eq!(m["apns"]["payload"]["aps"]["badge"], 3);
        assert_eq!(m["webpush"]["headers"]["Urgency"], "high");
        // Not an https link: FCM would refuse it as a web push click target.
        assert!(m["webpush"].get("fcm_options").is_none());
    }

    #[test]
    fn a_data_only_message_goes_to_ios_at_priority_five() {
        let m = message(&samples::minimal_delivery());
        assert!(m.get("notification").is_none());
        assert_eq!(m["apns"]["headers"]["apns-priority"], "5");
        assert_eq!(m["apns"]["payload"]["aps"]["content-available"], 1);
        assert_eq!(m["android"]["priority"], "NORMAL");
        assert!(m["android"].get("ttl").is_none());
    }

    #[test]
    fn reserved_keys_and_oversized_data_fail_without_a_request() {
        for key in ["from", "google.c.a", "gcm.n.e", "message_type"] {
            let mut delivery = samples::minimal_delivery();
            if let RenderedContent::Push(push) = &mut delivery.content {
                push.data.insert(key.into(), "v".into());
            }
            assert!(
                matches!(
                    encode(&delivery, NOW),
                    Err(Outcome::Failed {
                        reason: Reason::BadMessage,
                        ..
                    })
                ),
                "{key}"
            );
        }
        let mut delivery = samples::minimal_delivery();
        if let RenderedContent::Push(push) = &mut delivery.content {
            push.data.insert(DELIVERY_ID_KEY.into(), "forged".into());
        }
        assert_eq!(
            message(&delivery)["data"][DELIVERY_ID_KEY],
            delivery.delivery_id.to_string()
        );
    }

    #[test]
    fn ttl_takes_the_earlier_deadline_within_fcm_range() {
        assert_eq!(ttl(None, None, NOW), None);
        assert_eq!(ttl(Some(60), None, NOW), Some(60));
        assert_eq!(ttl(Some(600), Some((NOW + 30) * 1000), NOW), Some(30));
        assert_eq!(ttl(None, Some((NOW - 30) * 1000), NOW), Some(0));
        assert_eq!(ttl(Some(i32::MAX), None, NOW), Some(MAX_TTL_S));
    }
}

//! Pure FCM HTTP v1 encoding and classification: a [`Delivery`] to the `messages:send` body,
//! and an FCM answer to an [`Outcome`]. Nothing here touches the network.
//!
//! Guarantees: the message carries the delivery id as `data.notify_delivery_id` (FCM has no
//! idempotency key; the simulator and the ledger use it to count duplicates); a delivery FCM
//! would refuse for its shape (not a device token or push content, reserved data keys, data
//! over 4096 bytes) becomes an [`Outcome`] without a request. With no title, body or image the
//! message is data-only, and its APNs part asks for priority 5 as FCM requires. Classification
//! reads `error.details[].errorCode` first (the FCM-specific code is authoritative), then the
//! HTTP status, and never panics.

use std::collections::BTreeMap;
use std::time::Duration;

use notify_schemas::records::{Priority, RenderedContent};
use notify_schemas::{Delivery, Recipient};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{Outcome, Reason};

/// Most bytes of `data` (keys and values) FCM takes.
pub const MAX_DATA_BYTES: usize = 4096;
/// Longest TTL FCM takes: four weeks.
pub const MAX_TTL_S: i64 = 2_419_200;
/// Wait after `QUOTA_EXCEEDED` when FCM gives no `Retry-After` (its documented minimum).
pub const QUOTA_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The data key carrying the delivery id.
pub const DELIVERY_ID_KEY: &str = "notify_delivery_id";
/// Longest registration token we send.
const MAX_TOKEN_CHARS: usize = 4096;
const FCM_ERROR_TYPE: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";

/// Builds the `messages:send` body for `delivery`; `now_s` is the current time in epoch seconds.
pub(crate) fn encode(delivery: &Delivery, now_s: i64) -> Result<Vec<u8>, Outcome> {
    let Recipient::DeviceToken(device) = &delivery.recipient else {
        return Err(Outcome::failed(
            Reason::Unsupported,
            "fcm needs a device token recipient",
        ));
    };
    let RenderedContent::Push(push) = &delivery.content else {
        return Err(Outcome::failed(
            Reason::Unsupported,
            "fcm needs push content",
        ));
    };
    let token = device.token.trim();
    if token.is_empty()
        || token.len() > MAX_TOKEN_CHARS
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Outcome::InvalidRecipient {
            reason: Reason::TokenInvalid,
            since: None,
            detail: "registration token is malformed".to_owned(),
        });
    }

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

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    error: Option<RpcStatus>,
}

#[derive(Debug, Default, Deserialize)]
struct RpcStatus {
    status: Option<String>,
    #[serde(default)]
    details: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct SentBody {
    name: Option<String>,
}

/// What FCM answered, as far as classification cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `details[].errorCode` of the FcmError detail.
    pub error_code: Option<String>,
    /// The google.rpc `status` (`NOT_FOUND`, `UNAUTHENTICATED`, ...).
    pub rpc_status: Option<String>,
    /// `name` of a sent message.
    pub name: Option<String>,
    /// `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl Answer {
    /// Reads an answer; an unparseable body leaves the codes empty.
    pub(crate) fn new(status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        if status == 200 {
            let sent: SentBody = serde_json::from_slice(body).unwrap_or_default();
            return Self {
                status,
                error_code: None,
                rpc_status: None,
                name: sent.name.map(|n| short(&n, 200)),
                retry_after,
            };
        }
        let error = serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .and_then(|b| b.error)
            .unwrap_or_default();
        let error_code = error
            .details
            .iter()
            .filter(|d| d.get("@type").and_then(Value::as_str) == Some(FCM_ERROR_TYPE))
            .find_map(|d| d.get("errorCode").and_then(Value::as_str))
            .map(|c| short(c, 64));
        Self {
            status,
            error_code,
            rpc_status: error.status.map(|s| short(&s, 64)),
            name: None,
            retry_after,
        }
    }

    /// A 401 without an FCM error code: our access token expired or was revoked.
    pub(crate) fn is_access_token_rejection(&self) -> bool {
        self.status == 401 && self.error_code.is_none()
    }
}

/// Keeps a provider-given string short and printable.
fn short(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// The outcome an FCM answer means.
pub(crate) fn classify(answer: &Answer) -> Outcome {
    if answer.status == 200 {
        return Outcome::Sent {
            provider_message_id: answer.name.clone(),
        };
    }
    let code = answer
        .error_code
        .as_deref()
        .or(answer.rpc_status.as_deref())
        .unwrap_or("no error code");
    let detail = format!("{} {code}", answer.status);
    let retry = |why: Reason| Outcome::Retry {
        reason: why,
        after: answer.retry_after,
        detail: detail.clone(),
    };
    let gone = |detail: String| Outcome::InvalidRecipient {
        reason: Reason::TokenInvalid,
        since: None,
        detail,
    };
    match answer.error_code.as_deref() {
        Some("UNREGISTERED") | Some("SENDER_ID_MISMATCH") => return gone(detail),
        Some("INVALID_ARGUMENT") => return Outcome::failed(Reason::BadMessage, detail),
        // FCM asks for at least a minute before retrying an exceeded quota.
        Some("QUOTA_EXCEEDED") => {
            return Outcome::Retry {
                reason: Reason::RateLimited,
                after: Some(answer.retry_after.unwrap_or(QUOTA_RETRY_AFTER)),
                detail,
            }
        }
        Some("UNAVAILABLE") | Some("INTERNAL") => return retry(Reason::ProviderUnavailable),
        // The APNs certificate or web push key in the Firebase console: an operator's fix.
        Some("THIRD_PARTY_AUTH_ERROR") | Some("APNS_AUTH_ERROR") => {
            return retry(Reason::ProviderAuth)
        }
        _ => {}
    }
    match answer.status {
        400 => Outcome::failed(Reason::BadMessage, detail),
        401 | 403 => retry(Reason::ProviderAuth),
        429 => retry(Reason::RateLimited),
        500..=599 => retry(Reason::ProviderUnavailable),
        // A bare 404 is a wrong project or URL, not a dead token.
        status if (400..500).contains(&status) => {
            Outcome::failed(Reason::UnexpectedResponse, detail)
        }
        _ => retry(Reason::UnexpectedResponse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify_schemas::samples;

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

    fn answer(status: u16, error_code: Option<&str>, rpc: &str) -> Answer {
        let mut error = json!({ "code": status, "message": "m", "status": rpc });
        if let Some(code) = error_code {
            error["details"] = json!([
                { "@type": "type.googleapis.com/google.rpc.BadRequest", "errorCode": "IGNORED" },
                { "@type": FCM_ERROR_TYPE, "errorCode": code }
            ]);
        }
        let body = json!({ "error": error }).to_string();
        Answer::new(status, body.as_bytes(), None)
    }

    #[test]
    fn the_fcm_error_code_decides() {
        assert!(matches!(
            classify(&answer(404, Some("UNREGISTERED"), "NOT_FOUND")),
            Outcome::InvalidRecipient { .. }
        ));
        // The FCM code is authoritative even under another top-level status.
        assert!(matches!(
            classify(&answer(400, Some("UNREGISTERED"), "INVALID_ARGUMENT")),
            Outcome::InvalidRecipient { .. }
        ));
        assert!(matches!(
            classify(&answer(400, Some("INVALID_ARGUMENT"), "INVALID_ARGUMENT")),
            Outcome::Failed {
                reason: Reason::BadMessage,
                ..
            }
        ));
        assert!(matches!(
            classify(&answer(
                401,
                Some("THIRD_PARTY_AUTH_ERROR"),
                "UNAUTHENTICATED"
            )),
            Outcome::Retry {
                reason: Reason::ProviderAuth,
                ..
            }
        ));
        assert!(matches!(
            classify(&answer(404, None, "NOT_FOUND")),
            Outcome::Failed {
                reason: Reason::UnexpectedResponse,
                ..
            }
        ));
        assert!(matches!(
            classify(&answer(502, None, "")),
            Outcome::Retry {
                reason: Reason::ProviderUnavailable,
                ..
            }
        ));
        assert_eq!(
            classify(&answer(429, Some("QUOTA_EXCEEDED"), "RESOURCE_EXHAUSTED")),
            Outcome::Retry {
                reason: Reason::RateLimited,
                after: Some(QUOTA_RETRY_AFTER),
                detail: "429 QUOTA_EXCEEDED".into()
            }
        );
        assert!(answer(401, None, "UNAUTHENTICATED").is_access_token_rejection());
        assert!(
            !answer(401, Some("THIRD_PARTY_AUTH_ERROR"), "UNAUTHENTICATED")
                .is_access_token_rejection()
        );
        let sent = Answer::new(200, br#"{"name":"projects/p/messages/1"}"#, None);
        assert_eq!(
            classify(&sent),
            Outcome::Sent {
                provider_message_id: Some("projects/p/messages/1".into())
            }
        );
        let garbled = Answer::new(200, b"not json", None);
        assert_eq!(
            classify(&garbled),
            Outcome::Sent {
                provider_message_id: None
            }
        );
    }
}

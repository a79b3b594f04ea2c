//! SendGrid's signed Event Webhook: the ECDSA check and the receipts a batch of events reports.
//! Pure: no I/O, no clock.
//!
//! SendGrid signs each POST with the account's P-256 key: an ECDSA (SHA-256, DER) signature over
//! the `X-Twilio-Email-Event-Webhook-Timestamp` value followed by the raw body, in base64 in
//! `X-Twilio-Email-Event-Webhook-Signature`. The verification key is the base64 DER
//! SubjectPublicKeyInfo SendGrid shows under Mail Settings. SendGrid documents no freshness
//! window; a timestamp more than [`MAX_SKEW_S`] from now is refused, and the receipt route
//! refuses a signature it has seen within that window, so a captured request cannot be replayed.
//!
//! The body is a JSON array of events; each carries the personalization's custom args as
//! top-level fields (the dispatcher sets `delivery_id`, `notify_tenant`, `notify_event_id`,
//! `notify_user_id`, `notify_category`: `category` is SendGrid's own field). `delivered` is
//! [`Receipt::Delivered`], `bounce` [`Receipt::Bounced`] (`blocked` bounces too), `dropped`
//! [`Receipt::Undelivered`], `spamreport` [`Receipt::Complained`]; other events (`processed`,
//! `deferred`, opens, clicks, ...) and events without our ids are not receipts.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use notify_schemas::Receipt;
use notify_store::suppressions::SuppressionReason;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use serde_json::Value;

use super::{CallbackIds, ProviderReport};

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
/// Header carrying the signed timestamp (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";
/// Most seconds a signed timestamp may be from now.
pub const MAX_SKEW_S: i64 = 300;

/// DER of a P-256 SubjectPublicKeyInfo up to the uncompressed point that ends it.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// SendGrid's verification key: the uncompressed P-256 point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationKey(Vec<u8>);

impl VerificationKey {
    /// The key from SendGrid's base64 DER SubjectPublicKeyInfo.
    pub fn from_base64_der(text: &str) -> Result<Self, String> {
        let der = STANDARD
            .decode(text.trim())
            .map_err(|e| format!("not base64: {e}"))?;
        match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) if point.len() == 65 && point[0] == 4 => Ok(Self(point.to_vec())),
            _ => Err("not a P-256 public key (DER SubjectPublicKeyInfo)".into()),
        }
    }
}

/// Whether `signature` is SendGrid's signature of `timestamp` and `body`.
pub fn verify(key: &VerificationKey, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Ok(signature) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &key.0)
        .verify(&signed, &signature)
        .is_ok()
}

/// Whether `timestamp` (Unix seconds) is within [`MAX_SKEW_S`] of `now_ms`.
pub fn fresh(timestamp: &str, now_ms: i64) -> bool {
    timestamp
        .trim()
        .parse::<i64>()
        .is_ok_and(|ts| (now_ms / 1000 - ts).abs() <= MAX_SKEW_S)
}

/// The receipts in a verified batch, with the delivery each is about; `Err` for a body that is
/// not a JSON array of objects.
pub fn reports(body: &[u8]) -> Result<Vec<(CallbackIds, ProviderReport)>, String> {
    let events: Vec<Value> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for event in &events {
        let text = |name: &str| event[name].as_str().filter(|v| !v.is_empty());
        let (receipt, reason, suppress) = match text("event") {
            Some("delivered") => (Receipt::Delivered, None, None),
            Some("bounce") => {
                // a `blocked` bounce is temporary (the receiving server refused for now); any
                // other is the address refused for good
                let hard = text("type") != Some("blocked");
                let suppress = hard.then_some(SuppressionReason::Bounced);
                (
                    Receipt::Bounced,
                    Some(bounce_reason(text("type"))),
                    suppress,
                )
            }
            Some("dropped") => (
                Receipt::Undelivered,
                Some("sendgrid_dropped".to_owned()),
                None,
            ),
            Some("spamreport") => (
                Receipt::Complained,
                Some("spamreport".to_owned()),
                Some(SuppressionReason::Complained),
            ),
            _ => continue,
        };
        let ids = (|| {
            Some(CallbackIds {
                delivery_id: text("delivery_id")?.parse().ok()?,
                tenant: text("notify_tenant")?.to_owned(),
                event_id: text("notify_event_id")?.parse().ok()?,
                user_id: text("notify_user_id").map(str::to_owned),
                category: text("notify_category").map(str::to_owned),
                template_id: None,
            })
        })();
        let (Some(ids), Some(email)) = (ids, text("email")) else {
            continue; // not one of ours (another sender on the account)
        };
        // `sg_message_id` is the X-Message-Id the send was answered with, plus a suffix
        let message_id = text("sg_message_id").map(|id| id.split('.').next().unwrap_or(id));
        out.push((
            ids,
            ProviderReport {
                receipt,
                reason,
                suppress,
                provider: "sendgrid",
                provider_message_id: message_id.map(str::to_owned),
                recipient: email.to_owned(),
            },
        ));
    }
    Ok(out)
}

fn bounce_reason(kind: Option<&str>) -> String {
    match kind {
        Some("blocked") => "sendgrid_blocked".to_owned(),
        _ => "sendgrid_bounce".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key, signature, timestamp and payload of SendGrid's own Event Webhook library tests
    /// (`@sendgrid/eventwebhook`); the signature verifies with OpenSSL as well.
    const KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
    const SIGNATURE: &str = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
    const TIMESTAMP: &str = "1588788367";
    const PAYLOAD: &str =
        r#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;

    #[test]
    fn verifies_sendgrids_own_example() {
        let key = VerificationKey::from_base64_der(KEY).unwrap();
        assert!(verify(&key, TIMESTAMP, PAYLOAD.as_bytes(), SIGNATURE));
    }

    #[test]
    fn a_changed_body_timestamp_signature_or_key_fails() {
        let key = VerificationKey::from_base64_der(KEY).unwrap();
        let tampered = PAYLOAD.replace("test_event", "delivered");
        assert!(!verify(&key, TIMESTAMP, tampered.as_bytes(), SIGNATURE));
        assert!(!verify(&key, "1588788368", PAYLOAD.as_bytes(), SIGNATURE));
        assert!(!verify(&key, TIMESTAMP, PAYLOAD.as_bytes(), "MEUCIQ=="));
        assert!(!verify(&key, TIMESTAMP, PAYLOAD.as_bytes(), "not base64!"));
        let mut other = STANDARD.decode(KEY).unwrap();
        let last = other.len() - 1;
        other[last] ^= 1;
        // a point off the curve or another key: either way nothing verifies
        if let Ok(other) = VerificationKey::from_base64_der(&STANDARD.encode(other)) {
            assert!(!verify(&other, TIMESTAMP, PAYLOAD.as_bytes(), SIGNATURE));
        }
        assert!(VerificationKey::from_base64_der("MFkw").is_err());
        assert!(VerificationKey::from_base64_der("%%%").is_err());
    }

    #[test]
    fn only_recent_timestamps_are_fresh() {
        let now_ms = 1_588_788_367_000;
        assert!(fresh(TIMESTAMP, now_ms));
        assert!(fresh(TIMESTAMP, now_ms + MAX_SKEW_S * 1000));
        assert!(!fresh(TIMESTAMP, now_ms + (MAX_SKEW_S + 1) * 1000));
        assert!(!fresh(TIMESTAMP, now_ms - (MAX_SKEW_S + 1) * 1000));
        assert!(!fresh("soon", now_ms));
    }

    #[test]
    fn events_with_our_ids_are_receipts() {
        let ours = |event: &str| {
            serde_json::json!({
                "email": "jane@example.com", "timestamp": 1_700_000_000, "event": event,
                "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
                "delivery_id": "6f1c2d3e-0000-4000-8000-000000000001",
                "notify_tenant": "acme",
                "notify_event_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                "notify_category": "orders", "category": ["newsletter"],
            })
        };
        let mut blocked = ours("bounce");
        blocked["type"] = "blocked".into();
        let mut foreign = ours("delivered");
        foreign.as_object_mut().unwrap().remove("notify_tenant");
        let body = serde_json::json!([
            ours("processed"),
            ours("delivered"),
            ours("bounce"),
            blocked,
            ours("dropped"),
            ours("spamreport"),
            ours("open"),
            foreign,
        ]);
        let reports = reports(body.to_string().as_bytes()).unwrap();
        let kinds: Vec<_> = reports
            .iter()
            .map(|(_, r)| (r.receipt, r.reason.as_deref()))
            .collect();
        assert_eq!(
            kinds,
            [
                (Receipt::Delivered, None),
                (Receipt::Bounced, Some("sendgrid_bounce")),
                (Receipt::Bounced, Some("sendgrid_blocked")),
                (Receipt::Undelivered, Some("sendgrid_dropped")),
                (Receipt::Complained, Some("spamreport")),
            ]
        );
        let (ids, report) = &reports[0];
        assert_eq!(ids.tenant, "acme");
        assert_eq!(ids.category.as_deref(), Some("orders"));
        assert_eq!(report.recipient, "jane@example.com");
        assert_eq!(report.provider_message_id.as_deref(), Some("14c5d75ce93"));
        assert!(super::reports(b"{}").is_err());
        assert!(super::reports(b"[]").unwrap().is_empty());
    }
}

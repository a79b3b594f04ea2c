//! Vonage SMS API delivery receipts, signed with the account's signature secret.
//!
//! Vonage signs a webhook's parameters, not its URL: the parameters but `sig`, sorted by name,
//! each appended as `&name=value` with `&` and `=` in values replaced by `_`, HMAC'd with the
//! signature secret (SHA-1, SHA-256 or SHA-512, as chosen in the dashboard) and sent in hex as
//! `sig`, with a `timestamp` (Unix seconds) among the signed parameters. The delivery's ids
//! ride in the callback URL the dispatcher gave Vonage, which the signature does not cover, so
//! the gateway binds them: the signed `client-ref` must be the delivery id, and that id must be
//! the one the URL's tenant and event derive for the signed `msisdn`.

use notify_schemas::{Channel, Receipt};
use notify_store::suppressions::SuppressionReason;
use ring::hmac;
use serde::Deserialize;

use super::{CallbackIds, ProviderReport};

/// Most seconds between a receipt's `timestamp` and the gateway's clock.
pub const MAX_SKEW_S: i64 = 300;

/// The DLR error code Vonage gives a number that opted out of the sender.
pub const OPTED_OUT_ERROR: &str = "9";

/// The HMAC a Vonage account signs with (the dashboard's "SHA-256 HMAC" and so on; an account
/// on "MD5 hash" or "MD5 HMAC" must switch, MD5 is not accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureMethod {
    /// HMAC-SHA1.
    Sha1,
    /// HMAC-SHA256.
    #[default]
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl SignatureMethod {
    fn algorithm(self) -> hmac::Algorithm {
        match self {
            SignatureMethod::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            SignatureMethod::Sha256 => hmac::HMAC_SHA256,
            SignatureMethod::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// The text Vonage signs: every parameter but `sig`, in name order.
fn signed_text(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("&{k}={}", v.replace(['&', '='], "_")))
        .collect()
}

/// The `sig` of `params`, in lower-case hex.
pub fn signature(secret: &str, method: SignatureMethod, params: &[(String, String)]) -> String {
    let key = hmac::Key::new(method.algorithm(), secret.as_bytes());
    let tag = hmac::sign(&key, signed_text(params).as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a receipt's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `sig`, or one that does not match.
    Signature,
    /// No `timestamp`, or one too far from now.
    Stale,
}

/// Whether `params` carry a valid `sig` and a fresh `timestamp`.
pub fn verify(
    secret: &str,
    method: SignatureMethod,
    params: &[(String, String)],
    now_ms: i64,
) -> Result<(), Refusal> {
    let field = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let sig = field("sig").ok_or(Refusal::Signature)?;
    let expected = signature(secret, method, params);
    // constant-time: compare the MACs of both under a throwaway key
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"compare");
    let same = hmac::verify(
        &key,
        sig.to_ascii_lowercase().as_bytes(),
        hmac::sign(&key, expected.as_bytes()).as_ref(),
    )
    .is_ok();
    if !same {
        return Err(Refusal::Signature);
    }
    let fresh = field("timestamp")
        .and_then(|ts| ts.trim().parse::<i64>().ok())
        .is_some_and(|ts| (now_ms / 1000 - ts).abs() <= MAX_SKEW_S);
    if !fresh {
        return Err(Refusal::Stale);
    }
    Ok(())
}

/// The receipt in a verified DLR about the delivery `ids`, if it is one the gateway reports
/// (`delivered`, `failed`, `rejected`, `expired`) and its signed `client-ref` and `msisdn` bind
/// it to `ids`; `Err` names what does not match.
pub fn report(
    params: &[(String, String)],
    ids: &CallbackIds,
) -> Result<Option<ProviderReport>, &'static str> {
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let msisdn = field("msisdn").ok_or("msisdn")?;
    let recipient = format!("+{}", msisdn.trim_start_matches('+'));
    let delivery = ids.delivery_id.to_string();
    let derived =
        notify_schemas::id::delivery_id(&ids.tenant, ids.event_id, Channel::Sms, &recipient);
    if field("client-ref") != Some(delivery.as_str()) || derived != ids.delivery_id {
        return Err("ids");
    }
    let receipt = match field("status") {
        Some("delivered") => Receipt::Delivered,
        Some("failed" | "rejected" | "expired") => Receipt::Undelivered,
        _ => return Ok(None), // accepted, buffered, unknown: progress
    };
    let code = field("err-code").unwrap_or("0");
    let reason = (receipt != Receipt::Delivered).then(|| format!("vonage_{code}"));
    let suppress = (receipt == Receipt::Undelivered && code == OPTED_OUT_ERROR)
        .then_some(SuppressionReason::Stopped);
    Ok(Some(ProviderReport {
        receipt,
        reason,
        suppress,
        provider: "vonage",
        provider_message_id: field("messageId").map(str::to_owned),
        recipient,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(String, String)> {
        [
            ("msisdn", "447700900001"),
            ("to", "Notify"),
            ("network-code", "23410"),
            ("messageId", "0A0000000123ABCD1"),
            ("price", "0.03330000"),
            ("status", "delivered"),
            ("scts", "2612061940"),
            ("err-code", "0"),
            ("api-key", "abc123"),
            ("client-ref", "6f1c2d3e-0000-4000-8000-000000000001"),
            ("message-timestamp", "2026-12-06 19:40:00"),
            ("timestamp", "1796586000"),
            ("nonce", "n=1&x"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec()
    }

    #[test]
    fn signatures_match_vonages_own_library() {
        // computed with PyPI `vonage` 4.9.1 (vonage_http_client.auth.Auth.sign_params, sha256)
        assert_eq!(
            signature("sig-secret-42", SignatureMethod::Sha256, &params()),
            "7373bed227c6e0a3300df984ce1b4742d424875ab50974985e5339a2d61d3bbd"
        );
    }

    #[test]
    fn a_tampered_stale_or_unsigned_receipt_is_refused() {
        let now_ms = 1_796_586_000_000;
        let mut signed = params();
        let sig = signature("sig-secret-42", SignatureMethod::Sha256, &signed).to_uppercase();
        signed.push(("sig".into(), sig));
        assert_eq!(
            verify("sig-secret-42", SignatureMethod::Sha256, &signed, now_ms),
            Ok(())
        );
        let stale = now_ms + (MAX_SKEW_S + 1) * 1000;
        assert_eq!(
            verify("sig-secret-42", SignatureMethod::Sha256, &signed, stale),
            Err(Refusal::Stale)
        );
        let mut tampered = signed.clone();
        tampered[5].1 = "failed".into();
        let refusals = [
            verify("sig-secret-42", SignatureMethod::Sha256, &tampered, now_ms),
            verify("another-secret", SignatureMethod::Sha256, &signed, now_ms),
            verify("sig-secret-42", SignatureMethod::Sha512, &signed, now_ms),
            verify("sig-secret-42", SignatureMethod::Sha256, &params(), now_ms),
        ];
        assert_eq!(refusals, [Err(Refusal::Signature); 4]);
    }
}

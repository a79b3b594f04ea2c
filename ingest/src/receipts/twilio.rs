//! Twilio status callbacks: the `X-Twilio-Signature` check and the receipt a callback reports.
//! Pure: no I/O.
//!
//! Twilio signs a callback with the account's auth token: HMAC-SHA1 over the callback URL
//! exactly as it was called (query included), followed by every POST parameter as name and
//! value with no separator, in name order; the header carries the digest in base64. The URL's
//! query is ours (the dispatcher put the delivery's ids there), so the signature vouches for
//! them too.
//!
//! `MessageStatus` `delivered` is [`Receipt::Delivered`]; `undelivered` and `failed` (the
//! carrier or Twilio gave up after the API accepted the message) are
//! [`Receipt::Undelivered`], with `ErrorCode` as the reason; every other status (`queued`,
//! `sending`, `sent`, `read`, ...) is progress, not a receipt.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use notify_schemas::Receipt;
use notify_store::suppressions::SuppressionReason;
use ring::hmac;

use super::ProviderReport;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// Twilio's error code for a send to a number that opted out of the sender (texted STOP).
pub const OPTED_OUT_ERROR: &str = "21610";

/// The signature Twilio sends for a callback to `url` with form `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth_token.as_bytes());
    STANDARD.encode(hmac::sign(&key, signed_text(url, params).as_bytes()))
}

/// Whether `header` is Twilio's signature of this callback (compared in constant time).
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let Ok(given) = STANDARD.decode(header.trim()) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth_token.as_bytes());
    hmac::verify(&key, signed_text(url, params).as_bytes(), &given).is_ok()
}

fn signed_text(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut text = url.to_owned();
    for (name, value) in sorted {
        text.push_str(name);
        text.push_str(value);
    }
    text
}

/// What a verified callback reports, or `None` for progress that is no receipt.
pub fn report(params: &[(String, String)]) -> Option<ProviderReport> {
    let field = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    };
    let receipt = match field("MessageStatus").or(field("SmsStatus"))? {
        "delivered" => Receipt::Delivered,
        "undelivered" | "failed" => Receipt::Undelivered,
        _ => return None,
    };
    let reason = match receipt {
        Receipt::Delivered => None,
        _ => Some(match field("ErrorCode") {
            Some(code) => format!("twilio_{code}"),
            None => "twilio_undelivered".to_owned(),
        }),
    };
    // 21610: the number texted STOP to the sender; Twilio refuses every send to it until START
    let suppress =
        (field("ErrorCode") == Some(OPTED_OUT_ERROR)).then_some(SuppressionReason::Stopped);
    Some(ProviderReport {
        receipt,
        reason,
        suppress,
        provider: "twilio",
        provider_message_id: field("MessageSid").or(field("SmsSid")).map(str::to_owned),
        recipient: field("To")?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const URL: &str = "https://hooks.example.com/v1/receipts/twilio?delivery_id=6f1c2d3e-0000-4000-8000-000000000001&tenant=acme&event_id=0f8fad5b-d9cb-469f-a165-70867728950e";

    fn delivered() -> Vec<(String, String)> {
        params(&[
            ("MessageSid", "SM1234567890abcdef"),
            ("MessageStatus", "delivered"),
            ("To", "+821012345678"),
            ("From", "+15005550006"),
            ("AccountSid", "AC123"),
            ("ApiVersion", "2010-04-01"),
            ("SmsSid", "SM1234567890abcdef"),
            ("SmsStatus", "delivered"),
        ])
    }

    /// The value Twilio's own Python library (twilio 9.13.0,
    /// `RequestValidator("12345").compute_signature(URL, params)`) gives for this callback.
    const SDK_SIGNATURE: &str = "eBflVefzs04Ox9JGO3484lEbuos=";

    #[test]
    fn signs_as_twilios_library_does() {
        assert_eq!(signature("12345", URL, &delivered()), SDK_SIGNATURE);
        assert!(verify("12345", URL, &delivered(), SDK_SIGNATURE));
    }

    #[test]
    fn a_changed_url_parameter_token_or_signature_fails() {
        let tampered_url = URL.replace("tenant=acme", "tenant=evil");
        assert!(!verify("12345", &tampered_url, &delivered(), SDK_SIGNATURE));
        let mut tampered = delivered();
        tampered[2].1 = "+821099999999".into();
        assert!(!verify("12345", URL, &tampered, SDK_SIGNATURE));
        let mut added = delivered();
        added.push(("Extra".into(), "1".into()));
        assert!(!verify("12345", URL, &added, SDK_SIGNATURE));
        assert!(!verify("54321", URL, &delivered(), SDK_SIGNATURE));
        assert!(!verify("12345", URL, &delivered(), "not base64!"));
        assert!(!verify("12345", URL, &delivered(), ""));
    }

    #[test]
    fn delivered_and_undelivered_are_receipts_and_progress_is_not() {
        let report = report(&delivered()).expect("a receipt");
        assert_eq!(report.receipt, Receipt::Delivered);
        assert_eq!(report.reason, None);
        assert_eq!(report.recipient, "+821012345678");
        assert_eq!(
            report.provider_message_id.as_deref(),
            Some("SM1234567890abcdef")
        );

        let undelivered = params(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
            ("To", "+821012345678"),
        ]);
        let report = super::report(&undelivered).expect("a receipt");
        assert_eq!(report.receipt, Receipt::Undelivered);
        assert_eq!(report.reason.as_deref(), Some("twilio_30003"));

        for progress in ["queued", "sending", "sent", "accepted", "read"] {
            let p = params(&[("MessageStatus", progress), ("To", "+821012345678")]);
            assert!(super::report(&p).is_none(), "{progress}");
        }
        assert!(super::report(&params(&[("MessageStatus", "delivered")])).is_none());
    }
}

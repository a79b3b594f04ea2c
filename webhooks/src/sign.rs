//! The signature on every webhook: `Notify-Signature: t=<unix seconds>,v1=<hex>`, where the
//! hex is HMAC-SHA256, keyed with the endpoint's signing secret (its UTF-8 bytes, prefix
//! included), over `<t>.<raw body>`. Pure: no clock, no I/O.
//!
//! Guarantees: [`verify`] compares in constant time, checks the timestamp against a tolerance
//! (a captured request replayed later is refused) and accepts any of several `v1` values, so a
//! receiver's code keeps working if more than one signature is ever sent. Receivers should
//! also drop repeated `Notify-Webhook-Id`s: delivery is at least once.

use ring::hmac;
use subtle::ConstantTimeEq;

/// Header carrying the timestamp and signature.
pub const SIGNATURE_HEADER: &str = "notify-signature";
/// Header carrying the event's id (the same for every attempt at one event).
pub const ID_HEADER: &str = "notify-webhook-id";

/// The `Notify-Signature` value for `body` sent at `timestamp_s`.
pub fn signature_header(secret: &[u8], timestamp_s: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp_s},v1={}",
        hex::encode(mac(secret, timestamp_s, body))
    )
}

fn mac(secret: &[u8], timestamp_s: i64, body: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp_s.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    context.sign().as_ref().to_vec()
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No `t=` or no `v1=` in the header, or a value that is not a number or hex.
    #[error("malformed signature header")]
    Malformed,
    /// The timestamp is further from now than the tolerance.
    #[error("signature timestamp outside the tolerance")]
    Stale,
    /// No `v1` value matches the body.
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a `Notify-Signature` header for `body` at `now_s`, refusing timestamps more than
/// `tolerance_s` away from it.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                timestamp = Some(t.parse::<i64>().map_err(|_| VerifyError::Malformed)?)
            }
            Some(("v1", v)) => signatures.push(hex::decode(v).map_err(|_| VerifyError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if signatures.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if (now_s - timestamp).abs() > tolerance_s {
        return Err(VerifyError::Stale);
    }
    let expected = mac(secret, timestamp, body);
    if signatures
        .iter()
        .any(|s| bool::from(s.as_slice().ct_eq(&expected)))
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"a":1}"#;

    #[test]
    fn the_signature_matches_an_independent_hmac() {
        // Python: hmac.new(b"whsec_test", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            signature_header(SECRET, 1_700_000_000, BODY),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn a_genuine_signature_verifies_and_any_change_is_refused() {
        let header = signature_header(SECRET, 1_000, BODY);
        assert_eq!(verify(SECRET, &header, BODY, 1_100, 300), Ok(()));
        assert_eq!(
            verify(SECRET, &header, br#"{"a":2}"#, 1_100, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"whsec_other", &header, BODY, 1_100, 300),
            Err(VerifyError::Mismatch)
        );
        // the timestamp is signed: moving it forward breaks the signature
        let moved = header.replace("t=1000", "t=1050");
        assert_eq!(
            verify(SECRET, &moved, BODY, 1_100, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, &header, BODY, 1_301, 300),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(SECRET, &header, BODY, 699, 300),
            Err(VerifyError::Stale)
        );
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let genuine = signature_header(SECRET, 5, BODY);
        let v1 = genuine
            .split_once(",v1=")
            .map(|(_, v)| v)
            .unwrap_or_default();
        let header = format!("t=5,v1={},v1={v1}", "00".repeat(32));
        assert_eq!(verify(SECRET, &header, BODY, 5, 300), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for header in ["", "t=5", "v1=00", "t=x,v1=00", "t=5,v1=zz"] {
            assert_eq!(
                verify(SECRET, header, BODY, 5, 300),
                Err(VerifyError::Malformed),
                "{header}"
            );
        }
    }
}

//! Shape checks for recipient addresses: phone numbers, email addresses, APNs and FCM tokens,
//! web push subscriptions. The admin API uses them when users and devices are registered.
//!
//! Guarantees: a value that fails here would certainly be refused by the provider, and the
//! message says why in terms the caller can act on (lowercase, completing "the field ...").
//!
//! Not guaranteed: that a value that passes is deliverable. Whether a number is assigned, a
//! mailbox exists, a token is still registered or a p256dh key is a point on the P-256 curve is
//! learned from the provider; dispatchers disable dead recipients.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};

use super::fields::{absolute_url, has_control};

/// Fewest digits of an E.164 number accepted (country code included).
pub const E164_MIN_DIGITS: usize = 8;
/// Most digits of an E.164 number (ITU-T E.164 §6).
pub const E164_MAX_DIGITS: usize = 15;
/// Longest email address (RFC 5321 path limit less the angle brackets).
pub const EMAIL_MAX_BYTES: usize = 254;
/// Longest local part of an email address (RFC 5321 §4.5.3.1.1).
pub const EMAIL_LOCAL_MAX_BYTES: usize = 64;
/// Shortest APNs token in hex characters (32 bytes, the size Apple issues today).
pub const APNS_TOKEN_MIN_HEX: usize = 64;
/// Longest APNs token in hex characters (100 bytes).
pub const APNS_TOKEN_MAX_HEX: usize = 200;
/// Shortest FCM registration token accepted.
pub const FCM_TOKEN_MIN_CHARS: usize = 100;
/// Longest FCM registration token accepted.
pub const FCM_TOKEN_MAX_CHARS: usize = 4096;
/// Longest web push endpoint URL.
pub const WEBPUSH_ENDPOINT_MAX_BYTES: usize = 2048;

/// A phone number in E.164 form: `+`, then 8 to 15 digits, the first (country code) not 0. No
/// spaces, dashes or brackets: callers normalise before sending.
pub fn e164(phone: &str) -> Result<(), String> {
    let Some(digits) = phone.strip_prefix('+') else {
        return Err("must be an E.164 number starting with + (e.g. +821012345678)".into());
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be + followed by digits only, no spaces or punctuation".into());
    }
    if !(E164_MIN_DIGITS..=E164_MAX_DIGITS).contains(&digits.len()) {
        return Err(format!(
            "must have {E164_MIN_DIGITS} to {E164_MAX_DIGITS} digits after the +"
        ));
    }
    if digits.starts_with('0') {
        return Err("must not have a country code starting with 0".into());
    }
    Ok(())
}

/// An email address, checked pragmatically rather than by the full RFC 5322 grammar: exactly
/// one `@`; a local part of 1 to 64 bytes without spaces, quotes or `()<>[]:;,\`, not starting,
/// ending or doubling a `.`; a domain of at least two labels, each 1 to 63 bytes of letters,
/// digits and inner hyphens (non-ASCII letters allowed for internationalised addresses), the
/// last not all digits; at most 254 bytes in all; no control characters.
pub fn email(address: &str) -> Result<(), String> {
    if address.len() > EMAIL_MAX_BYTES {
        return Err(format!("must be at most {EMAIL_MAX_BYTES} bytes"));
    }
    if has_control(address) || address.chars().any(char::is_whitespace) {
        return Err("must not contain spaces or control characters".into());
    }
    let mut parts = address.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("must contain exactly one @".into());
    };
    if local.is_empty() || local.len() > EMAIL_LOCAL_MAX_BYTES {
        return Err(format!(
            "must have 1 to {EMAIL_LOCAL_MAX_BYTES} bytes before the @"
        ));
    }
    if local.chars().any(|c| "\"(),:;<>[\\]".contains(c)) {
        return Err("must not have quotes, brackets or ,:;\\ before the @".into());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("must not start, end or double a '.' before the @".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("must have a domain with a dot after the @".into());
    }
    for label in &labels {
        let label_ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-');
        if !label_ok {
            return Err(format!("has an invalid domain label {label:?}"));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("must have a domain name, not an IP address".into());
    }
    Ok(())
}

/// An APNs device token in hex, either case: an even number of 64 to 200 hex characters.
/// Apple issues 32-byte (64 hex) tokens today but tells providers not to hard-code the size, so
/// longer tokens up to 100 bytes are accepted rather than refused when Apple changes it.
pub fn apns_token(token: &str) -> Result<(), String> {
    if !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("must be hexadecimal (the device token as hex, without spaces or <>)".into());
    }
    if !(APNS_TOKEN_MIN_HEX..=APNS_TOKEN_MAX_HEX).contains(&token.len()) || token.len() % 2 != 0 {
        return Err(format!(
            "must be an even number of {APNS_TOKEN_MIN_HEX} to {APNS_TOKEN_MAX_HEX} hex characters"
        ));
    }
    Ok(())
}

/// An FCM registration token: 100 to 4096 characters of `A-Z a-z 0-9 _ : -`. FCM tokens are
/// opaque (about 150–200 characters today, `<instance id>:<base64url>`); the bounds only catch
/// truncated or garbage values, such as an APNs token sent as an FCM one.
pub fn fcm_token(token: &str) -> Result<(), String> {
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-'))
    {
        return Err("must contain only letters, digits, '_', ':' and '-'".into());
    }
    if !(FCM_TOKEN_MIN_CHARS..=FCM_TOKEN_MAX_CHARS).contains(&token.len()) {
        return Err(format!(
            "must be {FCM_TOKEN_MIN_CHARS} to {FCM_TOKEN_MAX_CHARS} characters"
        ));
    }
    Ok(())
}

/// A web push subscription endpoint: an `https` URL with a public host name (see
/// [`public_host_name`]), at most 2048 bytes.
pub fn webpush_endpoint(endpoint: &str) -> Result<(), String> {
    if endpoint.len() > WEBPUSH_ENDPOINT_MAX_BYTES {
        return Err(format!(
            "must be at most {WEBPUSH_ENDPOINT_MAX_BYTES} bytes"
        ));
    }
    let parts = absolute_url(endpoint)?;
    if !parts.scheme.eq_ignore_ascii_case("https") {
        return Err("must be an https URL".into());
    }
    if parts.host.is_empty() {
        return Err("must name a host".into());
    }
    public_host_name(parts.host)
}

/// Special-use names that resolve only on the machine or inside a network (RFC 6761, 6762,
/// 8375; `internal` as cloud providers use it).
const LOCAL_NAME_SUFFIXES: &[&str] =
    &["localhost", "local", "internal", "localdomain", "home.arpa"];

/// The host of a web push endpoint must be a public DNS name, as every push service's is: an
/// IP literal (in any spelling a URL parser reads as an IPv4 address: a last label that is a
/// decimal or `0x` hex number), a single-label or special-use local name, and percent-encoded
/// or non-ASCII hosts (which URL parsers may decode into an address) are refused. The
/// dispatcher checks the addresses the name resolves to when it sends.
fn public_host_name(host: &str) -> Result<(), String> {
    if host.contains(':') {
        return Err("must have a host name, not an IP address".into());
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err("must have an ASCII host name (letters, digits, '-' and '.')".into());
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let last = host.rsplit('.').next().unwrap_or_default();
    let numeric = !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())
        || last
            .strip_prefix("0x")
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if numeric {
        return Err("must have a host name, not an IP address".into());
    }
    let local = LOCAL_NAME_SUFFIXES
        .iter()
        .any(|suffix| host == *suffix || host.ends_with(&format!(".{suffix}")));
    if !host.contains('.') || local {
        return Err("must have a public host name, not localhost or a local network name".into());
    }
    Ok(())
}

/// A subscription's `p256dh` key: base64url decoding to a 65-byte uncompressed P-256 point
/// (first byte 0x04), as RFC 8291 requires.
pub fn webpush_p256dh(p256dh: &str) -> Result<(), String> {
    let key = base64url(p256dh)?;
    if key.len() != 65 || key[0] != 0x04 {
        return Err(format!(
            "must decode to a 65-byte uncompressed P-256 key starting with 0x04, not {} bytes",
            key.len()
        ));
    }
    Ok(())
}

/// A subscription's `auth` secret: base64url decoding to 16 bytes (RFC 8291 §3.2).
pub fn webpush_auth(auth: &str) -> Result<(), String> {
    let secret = base64url(auth)?;
    if secret.len() != 16 {
        return Err(format!("must decode to 16 bytes, not {}", secret.len()));
    }
    Ok(())
}

/// A whole web push subscription; the message names the part at fault (`endpoint`, `p256dh`
/// or `auth`). Use the per-part checks to report each part at its own field.
pub fn webpush_subscription(endpoint: &str, p256dh: &str, auth: &str) -> Result<(), String> {
    webpush_endpoint(endpoint).map_err(|e| format!("endpoint {e}"))?;
    webpush_p256dh(p256dh).map_err(|e| format!("p256dh {e}"))?;
    webpush_auth(auth).map_err(|e| format!("auth {e}"))?;
    Ok(())
}

/// Decodes base64url as browsers emit it (no padding), tolerating `=` padding.
fn base64url(text: &str) -> Result<Vec<u8>, String> {
    const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    if text.len() > 256 {
        return Err("is too long for a web push key".into());
    }
    URL_SAFE_ANY_PADDING
        .decode(text)
        .map_err(|_| "must be base64url (A-Z a-z 0-9 - _)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers() {
        assert!(e164("+821012345678").is_ok());
        assert!(e164("+14155550123").is_ok());
        assert!(e164("+12345678").is_ok());
        assert!(e164(&format!("+1{}", "2".repeat(14))).is_ok());
        assert!(e164(&format!("+1{}", "2".repeat(15))).is_err());
        assert!(e164("+1234567").is_err());
        assert!(e164("821012345678").is_err());
        assert!(e164("+0821012345678").is_err());
        assert!(e164("+82 10 1234 5678").is_err());
        assert!(e164("+82-10-1234-5678").is_err());
        assert!(e164("+８２1012345678").is_err());
        assert!(e164("+").is_err());
    }

    #[test]
    fn email_addresses() {
        for ok in [
            "a@example.com",
            "first.last+tag@mail.example.co.kr",
            "o'brien@example.ie",
            "用户@例子.中国",
            "x@xn--bcher-kva.example",
        ] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b@example.com",
            "a@localhost",
            "a b@example.com",
            "a@exa mple.com",
            "a@example..com",
            "a@-example.com",
            "a@example-.com",
            "a@1.2.3.4",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "\"a\"@example.com",
            "a@example.com\r\nBcc: x@evil.com",
            "a\u{0000}@example.com",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        assert!(email(&format!("{}@example.com", "a".repeat(64))).is_ok());
        assert!(email(&format!("{}@example.com", "a".repeat(65))).is_err());
        let long_domain = format!("{}.com", vec!["a".repeat(60); 4].join("."));
        assert!(email(&format!("a@{long_domain}")).is_ok()); // 249 bytes
        assert!(email(&format!("abcdefg@{long_domain}")).is_err()); // 255 bytes
        assert!(email(&format!("a@{}.com", "b".repeat(64))).is_err());
    }

    #[test]
    fn apns_tokens() {
        assert!(apns_token(&"ab".repeat(32)).is_ok());
        assert!(apns_token(&"AB".repeat(32)).is_ok());
        assert!(apns_token(&"0f".repeat(100)).is_ok());
        assert!(apns_token(&"ab".repeat(31)).is_err());
        assert!(apns_token(&"ab".repeat(101)).is_err());
        assert!(apns_token(&format!("{}a", "ab".repeat(32))).is_err());
        assert!(apns_token(&format!("{}zz", "ab".repeat(31))).is_err());
        assert!(apns_token(&format!("<{}>", "ab".repeat(32))).is_err());
    }

    #[test]
    fn fcm_tokens() {
        let token = format!("dGVzdC1pbnN0YW5jZQ:APA91b{}", "Xy_z-0".repeat(25));
        assert!(fcm_token(&token).is_ok());
        assert!(fcm_token(&"a".repeat(99)).is_err());
        assert!(fcm_token(&"a".repeat(4097)).is_err());
        assert!(fcm_token(&format!("{token}=")).is_err());
        assert!(fcm_token(&format!("{token} ")).is_err());
    }

    // RFC 8291 Appendix A: the user agent's public key and auth secret.
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

    #[test]
    fn webpush_subscriptions() {
        let endpoint = "https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV";
        assert!(webpush_subscription(endpoint, UA_PUBLIC, AUTH).is_ok());
        assert!(
            webpush_subscription(endpoint, &format!("{UA_PUBLIC}="), &format!("{AUTH}==")).is_ok()
        );
        assert!(
            webpush_subscription("http://push.example.net/x", UA_PUBLIC, AUTH)
                .unwrap_err()
                .starts_with("endpoint")
        );
        assert!(webpush_endpoint("https:///x").is_err());
        assert!(webpush_endpoint(&format!("https://p.example/{}", "a".repeat(2048))).is_err());
        // standard-alphabet base64 of the same bytes is refused
        let std_b64 = UA_PUBLIC.replace('-', "+").replace('_', "/");
        assert!(webpush_p256dh(&std_b64).is_err());
        // a compressed point (33 bytes) and a wrong first byte
        assert!(webpush_p256dh(&UA_PUBLIC[..44]).is_err());
        let mut wrong_prefix = UA_PUBLIC.to_owned();
        wrong_prefix.replace_range(0..1, "A");
        assert!(webpush_p256dh(&wrong_prefix).unwrap_err().contains("0x04"));
        assert!(webpush_auth(&AUTH[..20]).is_err());
        assert!(webpush_auth(UA_PUBLIC).is_err());
        assert!(webpush_subscription(endpoint, UA_PUBLIC, "")
            .unwrap_err()
            .starts_with("auth"));
    }

    /// A device registration cannot point the dispatchers at an address: IP literals (in any
    /// spelling the URL parser reads as one), `localhost` and names that only resolve inside
    /// a network are refused; push services have public DNS names.
    #[test]
    fn webpush_endpoints_name_a_public_host() {
        for endpoint in [
            "https://10.0.0.1/push",
            "https://169.254.169.254/latest/meta-data",
            "https://8.8.8.8/push",
            "https://2130706433/push",
            "https://0x7f.1/push",
            "https://0x7f000001/push",
            "https://127.1/push",
            "https://push.example.com.127.0.0.1/x",
            "https://[::1]/push",
            "https://[64:ff9b::a00:1]/push",
            "https://[2002:a00:1::1]/push",
            "https://[::ffff:10.0.0.1]/push",
            "https://localhost/push",
            "https://push.localhost/push",
            "https://metadata/computeMetadata",
            "https://metadata.google.internal/computeMetadata",
            "https://printer.local/push",
            "https://localhost./push",
        ] {
            assert!(
                webpush_subscription(endpoint, UA_PUBLIC, AUTH)
                    .is_err_and(|e| e.starts_with("endpoint")),
                "{endpoint} must be refused"
            );
        }
        for endpoint in [
            "https://fcm.googleapis.com/fcm/send/abc",
            "https://updates.push.services.mozilla.com/wpush/v2/abc",
            "https://wns2-par02p.notify.windows.com/w/?token=abc",
            "https://web.push.apple.com/QGuQyavXutnMH",
            "https://push.example.com:8443/x",
            "https://push.example.com./x",
        ] {
            assert!(webpush_endpoint(endpoint).is_ok(), "{endpoint}");
        }
    }
}

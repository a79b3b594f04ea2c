//! Small format checks shared by the request rules and the admin API: identifiers, locales,
//! trace context and URLs.
//!
//! Guarantees: each check is a pure function returning `Err(message)` with a lowercase message
//! that completes the sentence "the field ...". None allocates on success.
//!
//! Not checked: that an identifier exists, that a locale is registered with IANA, that a URL
//! resolves.

/// Longest user id, category, template id and similar identifier, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest locale tag (RFC 5646 §4.4.1 asks implementations to handle at least 35 characters).
pub const MAX_LOCALE_CHARS: usize = 35;
/// Longest URL accepted in content or as a web push endpoint, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest `tracestate` (the W3C limit for propagation is 512 characters).
pub const MAX_TRACESTATE_CHARS: usize = 512;

/// True when `text` has a control character (C0, DEL, C1) or a Unicode line/paragraph separator.
pub fn has_control(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

/// An identifier (user id, category, template id): 1 to `MAX_ID_BYTES` bytes, not blank, no
/// control characters.
pub fn identifier(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > MAX_ID_BYTES {
        return Err(format!("must be at most {MAX_ID_BYTES} bytes"));
    }
    if has_control(value) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Longest `Idempotency-Key`, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

/// An `Idempotency-Key` header value: 1 to 255 printable ASCII characters, not blank.
pub fn idempotency_key(value: &str) -> Result<(), String> {
    if value.trim().is_empty() || value.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        return Err(format!(
            "must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} characters"
        ));
    }
    if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err("must be printable ASCII".into());
    }
    Ok(())
}

/// A BCP 47 language tag in its common shape: a 2–3 letter language (or 4–8 letters, as RFC
/// 5646 reserves) followed by `-`-separated subtags of 1–8 letters or digits, at most
/// `MAX_LOCALE_CHARS` characters. `_` is refused with a hint, since `en_US` is a POSIX locale
/// and not a language tag.
pub fn locale(value: &str) -> Result<(), String> {
    const SHAPE: &str = "must be a BCP 47 language tag like en, ko-KR or zh-Hant-TW";
    if value.is_empty() || value.len() > MAX_LOCALE_CHARS {
        return Err(format!(
            "must be 1 to {MAX_LOCALE_CHARS} characters, a BCP 47 language tag"
        ));
    }
    if value.contains('_') {
        return Err("must use '-' between subtags, as BCP 47 does (en-US, not en_US)".into());
    }
    let mut subtags = value.split('-');
    let language = subtags.next().unwrap_or_default();
    if !(2..=8).contains(&language.len())
        || language.len() == 4
        || !language.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return Err(SHAPE.into());
    }
    for subtag in subtags {
        if subtag.is_empty()
            || subtag.len() > 8
            || !subtag.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(SHAPE.into());
        }
    }
    Ok(())
}

/// A W3C `traceparent`: `version-traceid-parentid-flags` in lowercase hex, trace and parent id
/// not all zeros, version not `ff`. Version `00` is exactly 55 characters; a later version may
/// append `-`-separated fields, as the spec asks parsers to allow.
pub fn traceparent(value: &str) -> Result<(), String> {
    const SHAPE: &str = "must be a W3C traceparent like 00-<32 hex>-<16 hex>-<2 hex>";
    let b = value.as_bytes();
    if b.len() < 55 || b.len() > 512 {
        return Err(SHAPE.into());
    }
    let lower_hex = |range: std::ops::Range<usize>| {
        b[range]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    };
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return Err(SHAPE.into());
    }
    if !lower_hex(0..2) || !lower_hex(3..35) || !lower_hex(36..52) || !lower_hex(53..55) {
        return Err(SHAPE.into());
    }
    if &b[0..2] == b"ff" {
        return Err("has the invalid version ff".into());
    }
    if &b[0..2] == b"00" && b.len() != 55 {
        return Err("must be exactly 55 characters for version 00".into());
    }
    if b.len() > 55 && b[55] != b'-' {
        return Err(SHAPE.into());
    }
    if b[3..35].iter().all(|&c| c == b'0') {
        return Err("has an all-zero trace id".into());
    }
    if b[36..52].iter().all(|&c| c == b'0') {
        return Err("has an all-zero parent id".into());
    }
    Ok(())
}

/// A W3C `tracestate`: at most `MAX_TRACESTATE_CHARS` printable ASCII characters. Its
/// list members are passed on as given, not parsed.
pub fn tracestate(value: &str) -> Result<(), String> {
    if value.len() > MAX_TRACESTATE_CHARS {
        return Err(format!("must be at most {MAX_TRACESTATE_CHARS} characters"));
    }
    if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err("must be printable ASCII".into());
    }
    Ok(())
}

/// The parts of an absolute URL this module looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UrlParts<'a> {
    /// Scheme, as written.
    pub scheme: &'a str,
    /// Host without port or brackets' content checks; empty when the URL has no authority.
    pub host: &'a str,
}

/// Splits an absolute URL into scheme and host, checking only what every consumer needs: at
/// most `MAX_URL_BYTES`, no whitespace or control characters, an RFC 3986 scheme, and a
/// well-formed authority (no user info, a numeric port) when there is one.
pub(crate) fn absolute_url(value: &str) -> Result<UrlParts<'_>, String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > MAX_URL_BYTES {
        return Err(format!("must be at most {MAX_URL_BYTES} bytes"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let Some((scheme, rest)) = value.split_once(':') else {
        return Err("must be an absolute URL with a scheme".into());
    };
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err("must be an absolute URL with a scheme".into());
    }
    let Some(after_slashes) = rest.strip_prefix("//") else {
        return Ok(UrlParts { scheme, host: "" });
    };
    let authority = after_slashes
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    if authority.contains('@') {
        return Err("must not contain user info".into());
    }
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((inside, after)) = bracketed.split_once(']') else {
            return Err("has an unterminated IPv6 host".into());
        };
        check_port(after)?;
        inside
    } else {
        match authority.split_once(':') {
            Some((host, port)) => {
                check_port(&format!(":{port}"))?;
                host
            }
            None => authority,
        }
    };
    Ok(UrlParts { scheme, host })
}

fn check_port(after_host: &str) -> Result<(), String> {
    match after_host.strip_prefix(':') {
        None if after_host.is_empty() => Ok(()),
        Some(port)
            if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(())
        }
        _ => Err("has an invalid port".into()),
    }
}

/// An `http` or `https` URL with a host (images in push content).
pub fn http_url(value: &str) -> Result<(), String> {
    let parts = absolute_url(value)?;
    if !(parts.scheme.eq_ignore_ascii_case("https") || parts.scheme.eq_ignore_ascii_case("http")) {
        return Err("must be an http or https URL".into());
    }
    if parts.host.is_empty() {
        return Err("must name a host".into());
    }
    Ok(())
}

/// A link opened on tap: any absolute URL, so app deep links (`myapp://orders/7`) pass; `http`
/// and `https` links need a host; `javascript:` and `data:` are refused.
pub fn link_url(value: &str) -> Result<(), String> {
    let parts = absolute_url(value)?;
    if parts.scheme.eq_ignore_ascii_case("javascript") || parts.scheme.eq_ignore_ascii_case("data")
    {
        return Err(format!("must not use the {} scheme", parts.scheme));
    }
    let web =
        parts.scheme.eq_ignore_ascii_case("https") || parts.scheme.eq_ignore_ascii_case("http");
    if web && parts.host.is_empty() {
        return Err("must name a host".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(identifier("user-42").is_ok());
        assert!(identifier("사용자").is_ok());
        assert!(identifier(&"a".repeat(MAX_ID_BYTES)).is_ok());
        assert!(identifier(&"a".repeat(MAX_ID_BYTES + 1)).is_err());
        assert!(identifier("").is_err());
        assert!(identifier("  ").is_err());
        assert!(identifier("a\nb").is_err());
        assert!(identifier("a\u{0000}").is_err());
        assert!(identifier("a\u{2028}").is_err());
    }

    #[test]
    fn locales() {
        for ok in ["en", "ko-KR", "zh-Hant-TW", "es-419", "de-CH-1996", "fil"] {
            assert!(locale(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "e",
            "en_US",
            "en-",
            "-en",
            "e1",
            "en--US",
            "engl",
            "en-abcdefghi",
            "ko KR",
        ] {
            assert!(locale(bad).is_err(), "{bad}");
        }
        assert!(locale(&format!("en-{}", ["abcdefgh"; 4].join("-"))).is_err());
    }

    #[test]
    fn traceparents() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(traceparent(good).is_ok());
        assert!(traceparent(&format!("01{}-extra", &good[2..])).is_ok());
        assert!(traceparent(&format!("{good}-extra")).is_err()); // version 00 is fixed length
        assert!(traceparent(&good.to_uppercase()).is_err());
        assert!(traceparent(&format!("ff{}", &good[2..])).is_err());
        assert!(traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_err());
        assert!(traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").is_err());
        assert!(traceparent(&good[..54]).is_err());
        assert!(tracestate("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7").is_ok());
        assert!(tracestate("a=\n").is_err());
    }

    #[test]
    fn urls() {
        assert!(http_url("https://cdn.example.com/a.png").is_ok());
        assert!(http_url("http://[::1]:8080/a.png").is_ok());
        assert!(http_url("ftp://example.com/a.png").is_err());
        assert!(http_url("https:///a.png").is_err());
        assert!(http_url("https://user@example.com/").is_err());
        assert!(http_url("https://example.com:port/").is_err());
        assert!(http_url("https://exa mple.com/").is_err());
        assert!(http_url(&format!(
            "https://example.com/{}",
            "a".repeat(MAX_URL_BYTES)
        ))
        .is_err());
        assert!(link_url("myapp://orders/7").is_ok());
        assert!(link_url("mailto:help@example.com").is_ok());
        assert!(link_url("javascript:alert(1)").is_err());
        assert!(link_url("/relative/path").is_err());
        assert!(link_url("https://").is_err());
    }
}

//! HTTP helpers every HTTP provider client shares: reading an answer with a size cap, and
//! reading `Retry-After`.
//!
//! Provider answers are untrusted input: a body larger than the cap is cut off, not buffered,
//! and a malformed header is treated as absent.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Most bytes of a provider's answer body we read; error bodies are small JSON or XML.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Reads at most `limit` bytes of the body; the rest is discarded with the connection's
/// buffer. Returns what was read and whether the body was cut off.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// The wait a `Retry-After` header asks for: delta seconds or an HTTP date (RFC 9110 §10.2.3).
/// `None` when absent or unparseable. Capped at one day so a hostile value cannot park a message
/// forever.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(Duration::from_secs(24 * 3600)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates_and_ignores_garbage() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
        let later = SystemTime::now() + Duration::from_secs(120);
        let date = httpdate::fmt_http_date(later);
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("99999999"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(24 * 3600)));
    }
}

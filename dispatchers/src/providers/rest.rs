//! Plumbing the REST providers (Twilio, Vonage, SendGrid) share: the HTTP client, base URL
//! checks, timeout defaults and the outcome of a request that got no answer.
//!
//! Guarantees: clients follow no redirects and ignore proxy environment variables, so provider
//! traffic (and its credentials) never silently goes elsewhere; every request has a connect
//! and a whole-request timeout.

use std::time::Duration;

use crate::{Outcome, Reason};

/// The outcome of a request that got no HTTP answer: the provider may or may not have it, and
/// retrying is the only safe choice.
pub(crate) fn no_answer(err: &reqwest::Error) -> Outcome {
    let detail = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connect failed"
    } else {
        "connection failed"
    };
    Outcome::retry(Reason::Connection, detail)
}

/// A reqwest client with the configured timeouts, no redirects and no proxy from the
/// environment (provider traffic must not silently go elsewhere).
pub(crate) fn http_client(
    timeout_ms: u64,
    connect_timeout_ms: u64,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(timeout_ms))
        .connect_timeout(Duration::from_millis(connect_timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
}

/// Checks a configured base URL: absolute http(s), no query or fragment.
pub(crate) fn check_base_url(base_url: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(base_url).map_err(|e| format!("base_url: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err("base_url must be an http(s) url without a query".to_owned());
    }
    Ok(base_url.trim_end_matches('/').to_owned())
}

pub(crate) fn default_timeout_ms() -> u64 {
    10_000
}

pub(crate) fn default_connect_timeout_ms() -> u64 {
    3_000
}

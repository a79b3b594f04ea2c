//! SMS providers: Twilio Programmable Messaging and the Vonage (Nexmo) legacy SMS API.
//!
//! Guarantees: each provider sends one [`notify_schemas::Delivery`] with a
//! [`notify_schemas::Recipient::Phone`] recipient and [`notify_schemas::RenderedContent::Sms`]
//! content as exactly one HTTP request, carries the delivery id in a field the provider (and
//! the simulator's ledger) keeps, and classifies every answer into an [`crate::Outcome`] by
//! status code and provider error code, never by error text. Phone numbers and credentials are
//! never logged; logs carry a redacted number ([`redact_phone`]).
//!
//! Not done here: delivery receipts (status callbacks / DLRs) are received elsewhere; these
//! clients only submit.

pub mod twilio;
pub mod vonage;

#[cfg(test)]
pub(crate) mod tests;

pub use twilio::{TwilioConfig, TwilioError, TwilioProvider};
pub use vonage::{VonageConfig, VonageError, VonageProvider};

use std::time::Duration;

use notify_schemas::{Delivery, Recipient, RenderedContent};

use crate::{Outcome, Reason};

/// The E.164 number and the text of an SMS delivery, or the outcome for a delivery that is not
/// an SMS.
pub(crate) fn sms_parts(delivery: &Delivery) -> Result<(&str, &str), Outcome> {
    let Recipient::Phone(phone) = &delivery.recipient else {
        return Err(Outcome::failed(
            Reason::Unsupported,
            "recipient is not a phone number",
        ));
    };
    let to = phone.e164.as_str();
    let RenderedContent::Sms(sms) = &delivery.content else {
        return Err(Outcome::failed(Reason::Unsupported, "content is not sms"));
    };
    if !is_e164(to) {
        return Err(Outcome::failed(Reason::BadAddress, "number is not e.164"));
    }
    Ok((to, &sms.text))
}

/// Whether `number` is `+` followed by 8 to 15 digits, the first not 0.
pub(crate) fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// A phone number safe to log: the country prefix and the last two digits, e.g. `+82…78`.
pub fn redact_phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 6 {
        return "…".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}…{tail}")
}

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

//! SMS providers: Twilio Programmable Messaging and the Vonage (Nexmo) legacy SMS API.
//!
//! Guarantees: each provider sends one [`notify_schemas::Delivery`] with a
//! [`notify_schemas::Recipient::Phone`] recipient and [`notify_schemas::RenderedContent::Sms`]
//! content as exactly one HTTP request, carries the delivery id in a field the provider (and
//! the simulator's ledger) keeps, and classifies every answer into an [`crate::Outcome`] by
//! status code and provider error code, never by error text. Phone numbers and credentials are
//! never logged; logs carry a redacted number ([`redact_phone`]).
//!
//! Not done here: delivery receipts (status callbacks / DLRs) are received by the gateway
//! (`notify_ingest::receipts`); these clients only submit, and Twilio's asks for callbacks.
//!
//! Configuration (`*_ms` durations; secrets from a file, re-read when it changes, or the
//! environment; `base_url` defaults to the real provider):
//!
//! ```toml
//! [dispatch.providers.twilio]
//! account_sid = "AC0123456789abcdef0123456789abcdef"
//! auth_token = { file = "/run/secrets/twilio-auth-token" }
//! messaging_service_sid = "MG0123456789abcdef0123456789abcdef"   # or: from = "+15005550006"
//! status_callback_base = "https://notify.example.com/v1/receipts/twilio"   # the gateway's route
//! timeout_ms = 10000
//!
//! [dispatch.providers.vonage]
//! api_key = "a1b2c3d4"
//! api_secret = { env = "VONAGE_API_SECRET" }
//! from = "acme"
//! ```

pub mod twilio;
pub mod vonage;

#[cfg(test)]
mod receipt_tests;
#[cfg(test)]
mod tests;

pub use twilio::TwilioProvider;
pub use vonage::VonageProvider;

use std::sync::Arc;
use std::time::Duration;

use notify_schemas::{Delivery, Recipient, RenderedContent};
use reqwest::StatusCode;

use crate::providers::http::retry_after;
use crate::providers::provider::{Outcome, Reason};
use crate::providers::rest::{credential, read_answer};
use crate::providers::secret::Secret;

/// How a provider reads its answer: status, `Retry-After` and body to an outcome.
type Classify = fn(StatusCode, Option<Duration>, &[u8]) -> Outcome;

/// The outcome of the request `sent` for delivery `id` to `to`: the answer read by `classify`,
/// or the outcome of a request that got no answer. An SMS the provider did not accept is logged
/// at debug level, with the number redacted.
pub(crate) async fn sms_outcome(
    provider: &'static str,
    id: &str,
    to: &str,
    sent: reqwest::Result<reqwest::Response>,
    classify: Classify,
) -> Outcome {
    let outcome = match read_answer(sent).await {
        Ok(answer) => classify(answer.status, retry_after(&answer.headers), &answer.body),
        Err(outcome) => outcome,
    };
    if !matches!(outcome, Outcome::Sent { .. }) {
        tracing::debug!(provider, delivery_id = %id, to = %redact_phone(to), outcome = ?outcome, "sms not accepted");
    }
    outcome
}

/// The E.164 number and the text of an SMS delivery, and the current value of the provider's
/// credential `what` (see [`credential`]); or the outcome, without a request, for a delivery
/// that is not an SMS or a credential that cannot be read.
pub(crate) fn sms_parts<'a>(
    delivery: &'a Delivery,
    secret: &Secret,
    provider: &'static str,
    what: &'static str,
) -> Result<(&'a str, &'a str, Arc<String>), Outcome> {
    let (to, text) = sms_text(delivery)?;
    Ok((to, text, credential(secret, provider, what)?))
}

/// The E.164 number and the text of an SMS delivery, or the outcome for a delivery that is not
/// an SMS.
fn sms_text(delivery: &Delivery) -> Result<(&str, &str), Outcome> {
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

/// `base` with the delivery's ids in the query: what the gateway's receipt route needs to
/// report a callback (Twilio's signature covers the whole URL; Vonage's covers the delivery id,
/// to which the gateway binds the rest).
pub fn callback_url(base: &reqwest::Url, delivery: &Delivery) -> reqwest::Url {
    let mut url = base.clone();
    url.query_pairs_mut()
        .append_pair("delivery_id", &delivery.delivery_id.to_string())
        .append_pair("tenant", &delivery.tenant)
        .append_pair("event_id", &delivery.event_id.to_string())
        .append_pair("user_id", &delivery.user_id)
        .append_pair("category", &delivery.category);
    url
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

//! Vonage (Nexmo) legacy SMS API: `POST {base_url}/sms/json`, form-encoded.
//!
//! Fields: `api_key`, `api_secret` (from a file, re-read when it changes, or the environment),
//! `from`, `to` (E.164 without the `+`), `text`, `type=unicode` when the text has a character
//! outside GSM-7, and `client-ref` = the delivery id (Vonage echoes it in delivery receipts; the
//! simulator records it). With `delivery_receipt_url` set, also `status-report-req=1` and
//! `callback` = that URL with the delivery's ids, where Vonage posts the signed receipt.
//!
//! Vonage answers HTTP 200 for every request it parsed; the outcome is the `status` string of
//! each part in `messages[]`. A message is sent only when every part has status `"0"`; otherwise
//! the first non-zero status decides:
//!
//! | status | meaning | outcome |
//! |---|---|---|
//! | 0 | success | `Sent`, message id = first part's `message-id` |
//! | 1 | throttled | `Retry` `RateLimited` |
//! | 5 | internal error | `Retry` `ProviderUnavailable` |
//! | 10 | too many existing binds | `Retry` `RateLimited` |
//! | 4, 8, 9, 11, 14, 32 | bad credentials, account barred, out of credit, HTTP not enabled, bad signature | `Retry` `ProviderAuth` |
//! | 3 with `to` in the error text, 6, 7, 22, 29, 33 | invalid / unroutable / barred / non-whitelisted / deactivated number | `Failed` `BadAddress` |
//! | 2, 3, 12, 15, 23, other | missing or invalid parameters, message too long, bad sender, bad callback | `Failed` `BadMessage` |
//!
//! Account-level failures (4, 8, 9, ...) are retried rather than failed: they are not the
//! message's fault, and retrying lets [`crate::providers::failover::Failover`] move traffic to another
//! provider instead of failing every message while the account is fixed.
//!
//! Non-200 answers: 401/403 → `Retry` `ProviderAuth`, 429 → `Retry` `RateLimited` (honouring
//! `Retry-After`), 5xx → `Retry` `ProviderUnavailable`, other 4xx → `Failed` `BadMessage`.

use async_trait::async_trait;
use notify_schemas::sms::{sms_segments, Encoding};
use notify_schemas::Delivery;
use reqwest::StatusCode;
use serde::Deserialize;

use super::{sms_outcome, sms_parts};
use crate::providers::provider::{Outcome, Provider, Reason};
use crate::providers::rest::{
    check_base_url, default_connect_timeout_ms, default_timeout_ms, http_client, RestError,
};
use crate::providers::secret::{Secret, SecretConfig};

/// Configuration of one Vonage account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VonageConfig {
    /// API root; the real one by default.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// API key (not secret: it identifies the account).
    pub api_key: String,
    /// API secret.
    pub api_secret: SecretConfig,
    /// Sender number (digits) or alphanumeric sender id.
    pub from: String,
    /// Public URL of the gateway's `POST /v1/receipts/vonage`; when set, every message asks for
    /// a delivery receipt there (`status-report-req`, `callback` with the delivery's ids).
    #[serde(default)]
    pub delivery_receipt_url: Option<String>,
    /// The account's signature secret, which Vonage signs receipts with (read by the gateway).
    #[serde(default)]
    pub signature_secret: Option<SecretConfig>,
    /// The HMAC the account signs with: `sha1`, `sha256` (default) or `sha512` (read by the
    /// gateway).
    #[serde(default)]
    pub signature_method: Option<String>,
    /// Whole-request timeout.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Connect timeout.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

fn default_base_url() -> String {
    "https://rest.nexmo.com".to_owned()
}

/// Why a Vonage provider could not be built.
pub type VonageError = RestError;

/// Sends SMS through one Vonage account.
#[derive(Debug)]
pub struct VonageProvider {
    client: reqwest::Client,
    url: String,
    api_key: String,
    api_secret: Secret,
    from: String,
    callback: Option<reqwest::Url>,
}

impl VonageProvider {
    /// Checks the config, loads the API secret and builds the HTTP client.
    pub fn new(config: VonageConfig) -> Result<Self, VonageError> {
        let invalid = RestError::config("vonage");
        let base = check_base_url(&config.base_url).map_err(&invalid)?;
        if config.api_key.is_empty() || config.from.is_empty() {
            return Err(invalid("api_key and from must not be empty".into()));
        }
        let callback = config
            .delivery_receipt_url
            .map(|url| reqwest::Url::parse(&url))
            .transpose()
            .map_err(|e| invalid(format!("delivery_receipt_url: {e}")))?;
        if let Some(method) = config.signature_method.as_deref() {
            if !["sha1", "sha256", "sha512"].contains(&method) {
                return Err(invalid(format!(
                    "signature_method {method:?}: choose sha1, sha256 or sha512 (MD5 is refused)"
                )));
            }
        }
        if callback.is_some() && config.signature_secret.is_none() {
            return Err(invalid(
                "delivery_receipt_url needs signature_secret: receipts are refused unsigned".into(),
            ));
        }
        Ok(Self {
            client: http_client(config.timeout_ms, config.connect_timeout_ms)
                .map_err(RestError::client("vonage"))?,
            url: format!("{base}/sms/json"),
            api_key: config.api_key,
            api_secret: Secret::load(&config.api_secret)
                .map_err(RestError::secret("vonage", "api secret"))?,
            from: config.from,
            callback,
        })
    }
}

#[async_trait]
impl Provider for VonageProvider {
    fn name(&self) -> &'static str {
        "vonage"
    }

    async fn send(&self, delivery: &Delivery) -> Outcome {
        let parts = sms_parts(delivery, &self.api_secret, "vonage", "api secret");
        let (to, text, secret) = match parts {
            Ok(parts) => parts,
            Err(outcome) => return outcome,
        };
        let id = delivery.delivery_id.to_string();
        let mut form = vec![
            ("api_key", self.api_key.as_str()),
            ("api_secret", secret.as_str()),
            ("from", self.from.as_str()),
            ("to", to.trim_start_matches('+')),
            ("text", text),
            ("client-ref", id.as_str()),
        ];
        if sms_segments(text).0 == Encoding::Ucs2 {
            form.push(("type", "unicode"));
        }
        let callback = self
            .callback
            .as_ref()
            .map(|base| super::callback_url(base, delivery).to_string());
        if let Some(callback) = &callback {
            form.push(("status-report-req", "1"));
            form.push(("callback", callback));
        }
        let sent = self.client.post(&self.url).form(&form).send().await;
        sms_outcome("vonage", &id, to, sent, classify).await
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    messages: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    status: String,
    #[serde(rename = "message-id")]
    message_id: Option<String>,
    #[serde(rename = "error-text")]
    error_text: Option<String>,
}

/// Classifies a Vonage answer; see the module table.
pub fn classify(status: StatusCode, wait: Option<std::time::Duration>, body: &[u8]) -> Outcome {
    let http = format!("http {}", status.as_u16());
    let retry = |reason, detail: String| Outcome::Retry {
        reason,
        after: wait,
        detail,
    };
    match status.as_u16() {
        200 => {}
        429 => return retry(Reason::RateLimited, http),
        401 | 403 => return retry(Reason::ProviderAuth, http),
        500..=599 => return retry(Reason::ProviderUnavailable, http),
        400..=499 => return Outcome::failed(Reason::BadMessage, http),
        _ => return retry(Reason::UnexpectedResponse, http),
    }
    let parts = match serde_json::from_slice::<Answer>(body) {
        Ok(answer) if !answer.messages.is_empty() => answer.messages,
        _ => return retry(Reason::UnexpectedResponse, "unreadable answer".into()),
    };
    let Some(failed) = parts.iter().find(|p| p.status != "0") else {
        return Outcome::Sent {
            provider_message_id: parts.into_iter().next().and_then(|p| p.message_id),
        };
    };
    let detail = format!("status {}", failed.status);
    let about_number = failed
        .error_text
        .as_deref()
        .map(|t| {
            let t = t.to_ascii_lowercase();
            t.contains(" to ") || t.ends_with(" to") || t.contains("number")
        })
        .unwrap_or(false);
    match failed.status.as_str() {
        "1" | "10" => retry(Reason::RateLimited, detail),
        "5" => retry(Reason::ProviderUnavailable, detail),
        "4" | "8" | "9" | "11" | "14" | "32" => retry(Reason::ProviderAuth, detail),
        "3" if about_number => Outcome::failed(Reason::BadAddress, detail),
        "6" | "7" | "22" | "29" | "33" => Outcome::failed(Reason::BadAddress, detail),
        _ => Outcome::failed(Reason::BadMessage, detail),
    }
}

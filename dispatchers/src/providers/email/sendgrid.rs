//! SendGrid v3 Mail Send: `POST {base_url}/v3/mail/send` with `Authorization: Bearer <key>`.
//!
//! Body: one personalization with the recipient and `custom_args.delivery_id` (SendGrid echoes a
//! personalization's custom args in every Event Webhook event; the simulator records it), then
//! `from`, optional `reply_to`, `subject` and `content` (text/plain first, then text/html, as
//! SendGrid requires). The API key is read from a file (re-read when it changes) or the environment.
//!
//! Classification:
//!
//! | answer | outcome |
//! |---|---|
//! | 200 (sandbox), 202 | `Sent`, message id = `X-Message-Id` |
//! | 400 with an error `field` under `personalizations.N.to/cc/bcc` | `Failed` `BadAddress` |
//! | other 400, 413, other 4xx | `Failed` `BadMessage` |
//! | 401, 403 | `Retry` `ProviderAuth` |
//! | 429 | `Retry` `RateLimited`, waiting the later of `Retry-After` and `X-RateLimit-Reset` (epoch seconds) |
//! | 5xx | `Retry` `ProviderUnavailable`, honouring `Retry-After` |
//! | no answer | `Retry` `Connection` |

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use lettre::message::Mailbox;
use notify_schemas::Delivery;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::list_unsubscribe::{self, ListUnsubscribe};
use super::{email_parts, redact_email};
use crate::providers::http::retry_after;
use crate::providers::provider::{Outcome, Provider, Reason};
use crate::providers::rest::{
    check_base_url, credential, default_connect_timeout_ms, default_timeout_ms, http_client,
    read_answer, RestError,
};
use crate::providers::secret::{Secret, SecretConfig};

/// Configuration of one SendGrid account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendGridConfig {
    /// API root; the real one by default.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The API key (`SG.…`).
    pub api_key: SecretConfig,
    /// Whole-request timeout.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Connect timeout.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// The signed Event Webhook's verification key (base64 DER, from Mail Settings); not a
    /// secret. Read by the gateway, which takes the events at `POST /v1/receipts/sendgrid`.
    #[serde(default)]
    pub event_webhook_public_key: Option<String>,
}

fn default_base_url() -> String {
    "https://api.sendgrid.com".to_owned()
}

/// Why a SendGrid provider could not be built.
pub type SendGridError = RestError;

/// Sends email through one SendGrid account.
#[derive(Debug)]
pub struct SendGridProvider {
    client: reqwest::Client,
    url: String,
    api_key: Secret,
    /// Unsubscribe headers, when links are configured.
    list_unsubscribe: Option<Arc<ListUnsubscribe>>,
}

impl SendGridProvider {
    /// Checks the config, loads the API key and builds the HTTP client.
    pub fn new(config: SendGridConfig) -> Result<Self, SendGridError> {
        let invalid = RestError::config("sendgrid");
        let base = check_base_url(&config.base_url).map_err(&invalid)?;
        Ok(Self {
            client: http_client(config.timeout_ms, config.connect_timeout_ms)
                .map_err(RestError::client("sendgrid"))?,
            url: format!("{base}/v3/mail/send"),
            api_key: Secret::load(&config.api_key)
                .map_err(RestError::secret("sendgrid", "api key"))?,
            list_unsubscribe: None,
        })
    }

    /// Adds the unsubscribe headers of [`list_unsubscribe`] to every message.
    pub fn with_list_unsubscribe(mut self, headers: Option<Arc<ListUnsubscribe>>) -> Self {
        self.list_unsubscribe = headers;
        self
    }
}

fn address(mailbox: &Mailbox) -> Value {
    match &mailbox.name {
        Some(name) => json!({ "email": mailbox.email.to_string(), "name": name }),
        None => json!({ "email": mailbox.email.to_string() }),
    }
}

#[async_trait]
impl Provider for SendGridProvider {
    fn name(&self) -> &'static str {
        "sendgrid"
    }

    async fn send(&self, delivery: &Delivery) -> Outcome {
        let parts = match email_parts(delivery) {
            Ok(parts) => parts,
            Err(outcome) => return outcome,
        };
        let mut content = Vec::new();
        if let Some(text) = &parts.email.text {
            content.push(json!({ "type": "text/plain", "value": text }));
        }
        if let Some(html) = &parts.email.html {
            content.push(json!({ "type": "text/html", "value": html }));
        }
        if content.is_empty() {
            return Outcome::failed(Reason::BadMessage, "email has neither text nor html");
        }
        let key = match credential(&self.api_key, "sendgrid", "api key") {
            Ok(key) => key,
            Err(outcome) => return outcome,
        };
        let id = delivery.delivery_id.to_string();
        let mut body = json!({
            // per personalization: the documented object form, echoed in every Event Webhook
            // event (the published OpenAPI document types the top-level one as a string)
            "personalizations": [{
                "to": [address(&parts.to)],
                "custom_args": custom_args(delivery),
            }],
            "from": address(&parts.from),
            "subject": parts.email.subject,
            "content": content,
        });
        if let Some(reply_to) = &parts.reply_to {
            body["reply_to"] = address(reply_to);
        }
        let headers = list_unsubscribe::headers_for(self.list_unsubscribe.as_deref(), delivery);
        if !headers.is_empty() {
            let headers: serde_json::Map<String, Value> = headers
                .into_iter()
                .map(|(name, value)| (name.to_owned(), Value::from(value)))
                .collect();
            body["headers"] = headers.into();
        }
        let sent = self
            .client
            .post(&self.url)
            .bearer_auth(key.as_str())
            .json(&body)
            .send()
            .await;
        let outcome = match read_answer(sent).await {
            Ok(answer) => classify(answer.status, &answer.headers, &answer.body),
            Err(outcome) => outcome,
        };
        if !matches!(outcome, Outcome::Sent { .. }) {
            tracing::debug!(provider = "sendgrid", delivery_id = %id, to = %redact_email(parts.address), outcome = ?outcome, "email not accepted");
        }
        outcome
    }
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    field: Option<String>,
}

/// The wait `X-RateLimit-Reset` (Unix epoch seconds) asks for, capped at one day.
pub fn rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    let reset: u64 = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(
        reset.saturating_sub(now).min(24 * 3600),
    ))
}

fn is_recipient_field(field: &str) -> bool {
    let mut segments = field.split('.');
    segments.next() == Some("personalizations")
        && segments
            .nth(1)
            .is_some_and(|s| matches!(s, "to" | "cc" | "bcc"))
}

/// The personalization's custom args: SendGrid echoes them in every Event Webhook event, so the
/// gateway can report a receipt against the delivery (`category` is SendGrid's own event field,
/// hence the prefix).
pub fn custom_args(delivery: &Delivery) -> serde_json::Value {
    json!({
        "delivery_id": delivery.delivery_id.to_string(),
        "notify_tenant": delivery.tenant,
        "notify_event_id": delivery.event_id.to_string(),
        "notify_user_id": delivery.user_id,
        "notify_category": delivery.category,
    })
}

/// Classifies a SendGrid answer; see the module table.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Outcome {
    let detail = format!("http {}", status.as_u16());
    let wait = retry_after(headers);
    match status.as_u16() {
        200..=299 => Outcome::Sent {
            provider_message_id: headers
                .get("x-message-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        },
        429 => Outcome::Retry {
            reason: Reason::RateLimited,
            after: wait.max(rate_limit_reset(headers)),
            detail,
        },
        401 | 403 => Outcome::Retry {
            reason: Reason::ProviderAuth,
            after: wait,
            detail,
        },
        400 => {
            // the fields SendGrid names say what to fix; their values (addresses) stay out
            // (an untrusted answer: a few short names at most)
            let fields: Vec<String> = serde_json::from_slice::<Errors>(body)
                .map(|e| {
                    e.errors
                        .into_iter()
                        .filter_map(|e| e.field)
                        .filter(|f| f.len() <= 64)
                        .take(4)
                        .collect()
                })
                .unwrap_or_default();
            let reason = if fields.iter().any(|f| is_recipient_field(f)) {
                Reason::BadAddress
            } else {
                Reason::BadMessage
            };
            if fields.is_empty() {
                Outcome::failed(reason, detail)
            } else {
                Outcome::failed(reason, format!("{detail} ({})", fields.join(", ")))
            }
        }
        401..=499 => Outcome::failed(Reason::BadMessage, detail),
        500..=599 => Outcome::Retry {
            reason: Reason::ProviderUnavailable,
            after: wait,
            detail,
        },
        _ => Outcome::retry(Reason::UnexpectedResponse, detail),
    }
}

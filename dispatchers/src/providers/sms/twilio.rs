//! Twilio Programmable Messaging: `POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`.
//!
//! The request is form-encoded (`To`, `From` or `MessagingServiceSid`, `Body`, optional
//! `StatusCallback`) with HTTP Basic auth `AccountSid:AuthToken`; the token is read from a file
//! (re-read when it changes) or the environment.
//!
//! The delivery id travels twice: in the query of `StatusCallback` when a callback base is
//! configured (`delivery_id`, `tenant`, `event_id`, `user_id`, `category`: Twilio calls that URL
//! on every status change and signs it, so the gateway's receipt route can report the change;
//! see `notify_ingest::receipts`), and always as the `X-Notify-Delivery-Id` request header,
//! which Twilio ignores and the simulator reads when there is no callback.
//!
//! Classification (Twilio error body `{"code","message","more_info","status"}`):
//!
//! | answer | outcome |
//! |---|---|
//! | 2xx | `Sent`, message id = `sid` |
//! | 400 code 21211 (invalid `To`), 21612 (unroutable), 21614 (not mobile), 21608 (unverified) | `Failed` `BadAddress` |
//! | 400 code 21610 (recipient replied STOP) | `Failed` `Unsubscribed` |
//! | other 4xx | `Failed` `BadMessage` |
//! | 429, or code 20429 | `Retry` `RateLimited`, honouring `Retry-After` |
//! | 401, 403, 404 (wrong account) | `Retry` `ProviderAuth` |
//! | 5xx | `Retry` `ProviderUnavailable`, honouring `Retry-After` |
//! | no answer | `Retry` `Connection` |
//!
//! A body that does not parse is classified by status alone.

use async_trait::async_trait;
use notify_schemas::Delivery;
use reqwest::StatusCode;
use serde::Deserialize;

use super::{sms_outcome, sms_parts};
use crate::providers::provider::{Outcome, Provider, Reason};
use crate::providers::rest::{
    check_base_url, default_connect_timeout_ms, default_timeout_ms, http_client, RestError,
};
use crate::providers::secret::{Secret, SecretConfig};

/// Header carrying the delivery id on every request.
pub const DELIVERY_ID_HEADER: &str = "x-notify-delivery-id";

/// Configuration of one Twilio account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// API root; the real one by default.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Account SID (`AC…`), the Basic auth user and part of the path.
    pub account_sid: String,
    /// The auth token (or API key secret).
    pub auth_token: SecretConfig,
    /// Sender number or alphanumeric id; one of `from` and `messaging_service_sid` is required.
    #[serde(default)]
    pub from: Option<String>,
    /// Messaging Service SID (`MG…`); used instead of `from` when set.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// Base URL of our status callback endpoint; `?delivery_id=<id>` is appended.
    #[serde(default)]
    pub status_callback_base: Option<String>,
    /// Whole-request timeout.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Connect timeout.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

fn default_base_url() -> String {
    "https://api.twilio.com".to_owned()
}

/// Why a Twilio provider could not be built.
pub type TwilioError = RestError;

/// Sends SMS through one Twilio account.
#[derive(Debug)]
pub struct TwilioProvider {
    client: reqwest::Client,
    url: String,
    account_sid: String,
    auth_token: Secret,
    sender: (&'static str, String),
    callback: Option<reqwest::Url>,
}

impl TwilioProvider {
    /// Checks the config, loads the auth token and builds the HTTP client.
    pub fn new(config: TwilioConfig) -> Result<Self, TwilioError> {
        let invalid = RestError::config("twilio");
        let base = check_base_url(&config.base_url).map_err(&invalid)?;
        if config.account_sid.is_empty()
            || !config
                .account_sid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        {
            return Err(invalid(
                "account_sid must be non-empty and alphanumeric".into(),
            ));
        }
        let sender = match (config.messaging_service_sid, config.from) {
            (Some(service), _) => ("MessagingServiceSid", service),
            (None, Some(from)) => ("From", from),
            (None, None) => {
                return Err(invalid(
                    "one of from and messaging_service_sid is required".into(),
                ))
            }
        };
        let callback = config
            .status_callback_base
            .map(|base| reqwest::Url::parse(&base))
            .transpose()
            .map_err(|e| invalid(format!("status_callback_base: {e}")))?;
        Ok(Self {
            client: http_client(config.timeout_ms, config.connect_timeout_ms)
                .map_err(RestError::client("twilio"))?,
            url: format!(
                "{base}/2010-04-01/Accounts/{}/Messages.json",
                config.account_sid
            ),
            account_sid: config.account_sid,
            auth_token: Secret::load(&config.auth_token)
                .map_err(RestError::secret("twilio", "auth token"))?,
            sender,
            callback,
        })
    }
}

#[async_trait]
impl Provider for TwilioProvider {
    fn name(&self) -> &'static str {
        "twilio"
    }

    async fn send(&self, delivery: &Delivery) -> Outcome {
        let parts = sms_parts(delivery, &self.auth_token, "twilio", "auth token");
        let (to, text, token) = match parts {
            Ok(parts) => parts,
            Err(outcome) => return outcome,
        };
        let id = delivery.delivery_id.to_string();
        let mut form = vec![
            ("To", to.to_owned()),
            (self.sender.0, self.sender.1.clone()),
            ("Body", text.to_owned()),
        ];
        if let Some(base) = &self.callback {
            form.push(("StatusCallback", super::callback_url(base, delivery).into()));
        }
        let sent = self
            .client
            .post(&self.url)
            .basic_auth(&self.account_sid, Some(token.as_str()))
            .header(DELIVERY_ID_HEADER, &id)
            .form(&form)
            .send()
            .await;
        sms_outcome("twilio", &id, to, sent, classify).await
    }
}

#[derive(Deserialize)]
struct Answer {
    sid: Option<String>,
    code: Option<i64>,
}

/// Classifies a Twilio answer; see the module table.
pub fn classify(status: StatusCode, wait: Option<std::time::Duration>, body: &[u8]) -> Outcome {
    let answer: Option<Answer> = serde_json::from_slice(body).ok();
    let code = answer.as_ref().and_then(|a| a.code);
    let detail = match code {
        Some(code) => format!("http {} code {code}", status.as_u16()),
        None => format!("http {}", status.as_u16()),
    };
    let retry = |reason| Outcome::Retry {
        reason,
        after: wait,
        detail: detail.clone(),
    };
    if status.is_success() {
        return Outcome::Sent {
            provider_message_id: answer.and_then(|a| a.sid),
        };
    }
    if status == StatusCode::TOO_MANY_REQUESTS || code == Some(20429) {
        return retry(Reason::RateLimited);
    }
    match status.as_u16() {
        401 | 403 | 404 => retry(Reason::ProviderAuth),
        500..=599 => retry(Reason::ProviderUnavailable),
        400..=499 => match code {
            Some(21211 | 21612 | 21614 | 21608) => Outcome::failed(Reason::BadAddress, detail),
            Some(21610) => Outcome::failed(Reason::Unsubscribed, detail),
            _ => Outcome::failed(Reason::BadMessage, detail),
        },
        _ => retry(Reason::UnexpectedResponse),
    }
}

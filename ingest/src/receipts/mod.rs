//! Provider receipts: what a provider reports after it took a message (delivered, undelivered,
//! bounced, complained), posted to the gateway as signed webhooks.
//!
//! A receipt that passes its provider's signature check updates the delivery's notification log
//! row (its state becomes the receipt, so a replayed delivery record is still not sent again)
//! and is reported on `notify.status` as a status of stage `TRACKER` carrying the receipt. The
//! delivery's ids come from the callback URL's query, which the dispatcher wrote and the
//! provider's signature covers.
//!
//! Guarantees: nothing is recorded from a request whose signature does not verify (403); a
//! receipt equal to the row's state is a replay and reports nothing (204); the status is
//! published before the row is written, so a failure between the two (503, the provider
//! retries) can repeat a status but never lose one. Not guaranteed: order between receipts of
//! one delivery (the latest to arrive wins the row).

pub mod sendgrid;
pub mod twilio;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use notify_common::clock::Clock;
use notify_common::config::SecretConfig;
use notify_common::publish::{Publisher, Record};
use notify_schemas::{Channel, Codec, DeliveryStatus, PhoneNumber, Receipt, Recipient, Stage};
use notify_store::notification_log::{DeliveryLog, LogWrite};
use serde::Deserialize;
use uuid::Uuid;

use crate::problem::Problem;
use crate::state::AppState;

/// What a provider's webhook reported about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderReport {
    /// The receipt.
    pub receipt: Receipt,
    /// Why, for receipts that are not `delivered`.
    pub reason: Option<String>,
    /// The provider's name, as the dispatcher logs it.
    pub provider: &'static str,
    /// The provider's id of the message.
    pub provider_message_id: Option<String>,
    /// The recipient key as the delivery had it (E.164 number, address).
    pub recipient: String,
}

/// The delivery a callback is about, from the callback URL's query.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CallbackIds {
    /// The delivery id.
    pub delivery_id: Uuid,
    /// Tenant of the delivery.
    pub tenant: String,
    /// Event the delivery belongs to.
    pub event_id: Uuid,
    /// Recipient user, when the dispatcher passed it.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Category, when the dispatcher passed it.
    #[serde(default)]
    pub category: Option<String>,
    /// Template the delivery was rendered from, when known (tracked links carry it).
    #[serde(default)]
    pub template_id: Option<String>,
}

/// Twilio's callbacks: the URL the dispatcher gives Twilio and the auth token Twilio signs with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TwilioReceipts {
    /// `status_callback_base` of `[dispatch.providers.twilio]`: the public URL of
    /// `POST /v1/receipts/twilio` as Twilio calls it.
    #[serde(rename = "status_callback_base")]
    pub callback_url: String,
    /// The account's auth token (re-read on every callback, so a rotated token takes effect).
    pub auth_token: SecretConfig,
}

impl TwilioReceipts {
    /// The Twilio receipt settings in `[dispatch.providers.twilio]`, if callbacks are on there.
    pub fn from_providers(providers: &toml::Table) -> Result<Option<Self>, String> {
        let Some(table) = providers.get("twilio") else {
            return Ok(None);
        };
        if table.get("status_callback_base").is_none() {
            return Ok(None);
        }
        let mut receipts: Self = table
            .clone()
            .try_into()
            .map_err(|e| format!("dispatch.providers.twilio: {e}"))?;
        // the query Twilio calls back with is the one the dispatcher added
        receipts.callback_url = receipts
            .callback_url
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(Some(receipts))
    }
}

/// SendGrid's Event Webhook: the key its requests are signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendGridReceipts {
    /// `event_webhook_public_key` of `[dispatch.providers.sendgrid]`.
    pub key: sendgrid::VerificationKey,
}

impl SendGridReceipts {
    /// The SendGrid receipt settings in `[dispatch.providers.sendgrid]`, if its Event Webhook's
    /// verification key is set there.
    pub fn from_providers(providers: &toml::Table) -> Result<Option<Self>, String> {
        let Some(key) = providers
            .get("sendgrid")
            .and_then(|table| table.get("event_webhook_public_key"))
        else {
            return Ok(None);
        };
        let key = key
            .as_str()
            .ok_or("dispatch.providers.sendgrid.event_webhook_public_key must be a string")?;
        sendgrid::VerificationKey::from_base64_der(key)
            .map(|key| Some(Self { key }))
            .map_err(|e| format!("dispatch.providers.sendgrid.event_webhook_public_key: {e}"))
    }
}

/// Signatures of webhooks already taken, kept as long as their timestamps stay fresh.
pub fn seen_signatures() -> moka::future::Cache<String, ()> {
    moka::future::Cache::builder()
        .max_capacity(1_000_000)
        .time_to_live(std::time::Duration::from_secs(
            2 * sendgrid::MAX_SKEW_S.unsigned_abs(),
        ))
        .build()
}

/// Everything the receipt routes need.
#[derive(Debug)]
pub struct Receipts {
    /// Twilio's callbacks, when configured.
    pub twilio: Option<TwilioReceipts>,
    /// SendGrid's Event Webhook, when configured.
    pub sendgrid: Option<SendGridReceipts>,
    /// Signatures taken within the freshness window ([`seen_signatures`]): a second request
    /// with one is a replay.
    pub seen: moka::future::Cache<String, ()>,
    /// The notification log the receipts update.
    pub log: Arc<dyn DeliveryLog>,
    /// Codec of `notify.status`.
    pub statuses: Arc<Codec<DeliveryStatus>>,
    /// `notify.status` under the configured prefix.
    pub status_topic: String,
    /// The one clock.
    pub clock: Arc<dyn Clock>,
}

/// What recording a receipt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Reported on `notify.status` and written to the log.
    Reported,
    /// The log already holds this receipt: a replay, nothing reported.
    Replay,
}

/// Why a receipt could not be recorded now.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The notification log did not answer.
    #[error("notification log: {0}")]
    Store(#[from] notify_store::StoreError),
    /// The status could not be encoded.
    #[error("encode status: {0}")]
    Encode(String),
    /// Kafka did not take the status.
    #[error("publish status: {0}")]
    Publish(#[from] notify_common::publish::PublishError),
}

impl Receipts {
    /// Records `report` about the delivery `ids` of `channel`: reports it on `notify.status`,
    /// then writes it to the delivery's log row; a replay of the row's state does neither.
    pub async fn record(
        &self,
        publisher: &dyn Publisher,
        channel: Channel,
        ids: &CallbackIds,
        report: &ProviderReport,
    ) -> Result<Recorded, RecordError> {
        let event_id = ids.event_id.to_string();
        let row = self
            .log
            .get(&ids.tenant, &event_id, channel.as_str(), &report.recipient)
            .await?;
        if row.as_ref().and_then(|r| r.state.as_deref()) == Some(report.receipt.as_str()) {
            return Ok(Recorded::Replay);
        }
        let now_ms = self.clock.now_ms();
        let attempts = row.as_ref().and_then(|r| r.attempts).unwrap_or(1);
        let status = DeliveryStatus {
            tenant: ids.tenant.clone(),
            event_id: ids.event_id,
            delivery_id: Some(ids.delivery_id),
            user_id: ids.user_id.clone(),
            category: ids.category.clone(),
            channel: Some(channel),
            recipient: Some(redacted(channel, &report.recipient)),
            status: report.receipt.status(),
            stage: Stage::Tracker,
            reason: report.reason.clone(),
            provider: Some(report.provider.to_owned()),
            provider_message_id: report.provider_message_id.clone(),
            attempt: attempts,
            occurred_at: now_ms,
            receipt: Some(report.receipt),
            template_id: ids.template_id.clone(),
        };
        let payload = self
            .statuses
            .encode(&status)
            .map_err(|e| RecordError::Encode(e.to_string()))?;
        publisher
            .publish(&[Record::new(&self.status_topic, event_id.clone(), payload)])
            .await?;
        self.log
            .put(&LogWrite {
                tenant: ids.tenant.clone(),
                event_id,
                channel: channel.as_str().to_owned(),
                recipient: report.recipient.clone(),
                delivery_id: ids.delivery_id.to_string(),
                state: report.receipt.as_str().to_owned(),
                reason: report.reason.clone(),
                attempts,
                provider: Some(report.provider.to_owned()),
                provider_message_id: report.provider_message_id.clone(),
                updated_at_ms: now_ms,
            })
            .await?;
        crate::metrics::receipt(channel, report.receipt);
        Ok(Recorded::Reported)
    }
}

/// The recipient as statuses show it.
fn redacted(channel: Channel, recipient: &str) -> String {
    let recipient = match channel {
        Channel::Sms => Recipient::Phone(PhoneNumber {
            e164: recipient.to_owned(),
        }),
        _ => Recipient::Email(notify_schemas::EmailAddress {
            address: recipient.to_owned(),
            name: None,
        }),
    };
    recipient.redacted()
}

/// The receipts and one provider's settings, if that provider's receipts are configured (the
/// route answers 404 otherwise).
fn configured<'a, T>(
    state: &'a AppState,
    provider: impl FnOnce(&'a Receipts) -> Option<&'a T>,
) -> Option<(&'a Receipts, &'a T)> {
    let receipts = state.receipts.as_deref()?;
    Some((receipts, provider(receipts)?))
}

/// `POST /v1/receipts/twilio`: a Twilio status callback.
pub async fn twilio_callback(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((receipts, twilio)) = configured(&state, |r| r.twilio.as_ref()) else {
        return Problem::not_found("route").into_response();
    };
    let query = query.unwrap_or_default();
    let url = if query.is_empty() {
        twilio.callback_url.clone()
    } else {
        format!("{}?{query}", twilio.callback_url)
    };
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let token = match twilio.auth_token.read() {
        Ok(token) => token,
        Err(err) => {
            return Problem::outage("twilio auth token", &err, "receipts unavailable")
                .into_response()
        }
    };
    let signed = headers
        .get(twilio::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|header| twilio::verify(&token, &url, &params, header));
    if !signed {
        return refused("twilio", "signature");
    }
    let Some(report) = twilio::report(&params) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let ids: CallbackIds = match callback_ids(&query) {
        Ok(ids) => ids,
        Err(err) => {
            crate::metrics::receipt_refused("twilio", "ids");
            return Problem::bad_request(format!("callback URL: {err}")).into_response();
        }
    };
    match receipts
        .record(state.publisher.as_ref(), Channel::Sms, &ids, &report)
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => Problem::outage("receipt not recorded", &err, "try again").into_response(),
    }
}

/// The delivery ids in a callback URL's query.
fn callback_ids(query: &str) -> Result<CallbackIds, String> {
    let pairs: serde_json::Map<String, serde_json::Value> =
        form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect();
    serde_json::from_value(serde_json::Value::Object(pairs)).map_err(|e| e.to_string())
}

/// `POST /v1/receipts/sendgrid`: a batch of SendGrid Event Webhook events.
pub async fn sendgrid_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((receipts, config)) = configured(&state, |r| r.sendgrid.as_ref()) else {
        return Problem::not_found("route").into_response();
    };
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (
        header(sendgrid::SIGNATURE_HEADER),
        header(sendgrid::TIMESTAMP_HEADER),
    ) else {
        return refused("sendgrid", "signature");
    };
    if !sendgrid::verify(&config.key, timestamp, &body, signature) {
        return refused("sendgrid", "signature");
    }
    if !sendgrid::fresh(timestamp, receipts.clock.now_ms()) {
        return refused("sendgrid", "stale");
    }
    let first = receipts
        .seen
        .entry(signature.to_owned())
        .or_insert(())
        .await
        .is_fresh();
    if !first {
        return refused("sendgrid", "replay");
    }
    let reports = match sendgrid::reports(&body) {
        Ok(reports) => reports,
        Err(err) => return Problem::bad_request(format!("events: {err}")).into_response(),
    };
    for (ids, report) in &reports {
        let recorded = receipts
            .record(state.publisher.as_ref(), Channel::Email, ids, report)
            .await;
        if let Err(err) = recorded {
            // SendGrid posts the batch again, signed anew; what was recorded is a replay then
            receipts.seen.invalidate(signature).await;
            return Problem::outage("receipt not recorded", &err, "try again").into_response();
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

/// 403 for a webhook that is not taken (bad signature, stale, replayed), counted by `reason`;
/// the answer says nothing about why.
fn refused(provider: &'static str, reason: &'static str) -> Response {
    crate::metrics::receipt_refused(provider, reason);
    (StatusCode::FORBIDDEN, "webhook refused").into_response()
}

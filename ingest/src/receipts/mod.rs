//! Provider receipts: what a provider reports after it took a message (delivered, undelivered,
//! bounced, complained), posted to the gateway as signed webhooks.
//!
//! A receipt that passes its provider's signature check updates the delivery's notification log
//! row (its state becomes the receipt, so a replayed delivery record is still not sent again)
//! and is reported on `notify.status` as a status of stage `TRACKER` carrying the receipt. The
//! delivery's ids come from the callback URL's query, which the dispatcher wrote and the
//! provider's signature covers.
//!
//! A hard bounce, a spam report or a provider's "this number opted out" also puts the address
//! on the suppression list (`notify_store::suppressions`), which the router honours.
//!
//! SMTP relays sign nothing: their bounce messages (DSNs, [`dsn`]) come from a bounce mailbox
//! that forwards them with a shared secret (`POST /v1/receipts/smtp/dsn`, [`smtp`]).
//!
//! Guarantees: nothing is recorded from a request whose signature does not verify (403); a
//! receipt equal to the row's state and reason is a replay and reports nothing (204); the status is
//! published before the row is written, so a failure between the two (503, the provider
//! retries) can repeat a status but never lose one. Not guaranteed: order between receipts of
//! one delivery (the latest to arrive wins the row).

pub mod dsn;
#[cfg(test)]
mod dsn_tests;
mod inbound;
mod routes;
pub mod sendgrid;
pub mod smtp;
pub mod twilio;
pub mod vonage;

pub use inbound::{twilio_inbound, Keyword};
pub use routes::{sendgrid_events, twilio_callback, vonage_receipt};
pub use smtp::{smtp_dsn, SmtpReceipts};

use std::sync::Arc;

use notify_common::clock::Clock;
use notify_common::config::SecretConfig;
use notify_common::publish::{Publisher, Record};
use notify_schemas::{Channel, Codec, DeliveryStatus, PhoneNumber, Receipt, Recipient, Stage};
use notify_store::notification_log::{DeliveryLog, LogKey, LogWrite};
use notify_store::suppressions::{
    normalize, Suppression, SuppressionList, SuppressionReason, EVERY_TENANT,
};
use serde::Deserialize;
use uuid::Uuid;

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
    /// Whether the address goes on the suppression list, and why: a hard bounce, a spam
    /// report, a number that has opted out at the provider.
    pub suppress: Option<SuppressionReason>,
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

/// Vonage's delivery receipts: the URL the dispatcher gives Vonage and how Vonage signs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VonageReceipts {
    /// `delivery_receipt_url` of `[dispatch.providers.vonage]`: the public URL of
    /// `POST /v1/receipts/vonage` as Vonage calls it.
    #[serde(rename = "delivery_receipt_url")]
    pub callback_url: String,
    /// The account's signature secret (re-read on every receipt).
    pub signature_secret: SecretConfig,
    /// The HMAC the account signs with.
    #[serde(default)]
    pub signature_method: vonage::SignatureMethod,
}

impl VonageReceipts {
    /// The Vonage receipt settings in `[dispatch.providers.vonage]`, if receipts are on there.
    pub fn from_providers(providers: &toml::Table) -> Result<Option<Self>, String> {
        let Some(table) = providers.get("vonage") else {
            return Ok(None);
        };
        if table.get("delivery_receipt_url").is_none() {
            return Ok(None);
        }
        table
            .clone()
            .try_into()
            .map(Some)
            .map_err(|e| format!("dispatch.providers.vonage: {e}"))
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
    /// Vonage's delivery receipts, when configured.
    pub vonage: Option<VonageReceipts>,
    /// Bounce messages from the SMTP relay's bounce mailbox, when configured.
    pub smtp: Option<SmtpReceipts>,
    /// Signatures taken within the freshness window ([`seen_signatures`]): a second request
    /// with one is a replay.
    pub seen: moka::future::Cache<String, ()>,
    /// The notification log the receipts update.
    pub log: Arc<dyn DeliveryLog>,
    /// The suppression list hard bounces, complaints and opt-outs add to.
    pub suppressions: Arc<dyn SuppressionList>,
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
            .get(&LogKey::new(
                &ids.tenant,
                &event_id,
                channel.as_str(),
                &report.recipient,
            ))
            .await?;
        // the same receipt for the same reason: a temporary bounce followed by a hard one is news
        let replay = row.as_ref().is_some_and(|r| {
            r.state.as_deref() == Some(report.receipt.as_str()) && r.reason == report.reason
        });
        if replay {
            return Ok(Recorded::Replay);
        }
        let now_ms = self.clock.now_ms();
        if let Some(reason) = report.suppress {
            self.suppress(channel, ids, report, reason, now_ms).await?;
        }
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

    /// Puts the report's address on the suppression list before anything is reported, so a
    /// status announcing a bounce is never followed by another send to the address. A number
    /// that opted out at the provider is suppressed for every tenant: they share its sender.
    async fn suppress(
        &self,
        channel: Channel,
        ids: &CallbackIds,
        report: &ProviderReport,
        reason: SuppressionReason,
        now_ms: i64,
    ) -> Result<(), RecordError> {
        let scope = match reason {
            SuppressionReason::Stopped => EVERY_TENANT,
            SuppressionReason::Bounced | SuppressionReason::Complained => ids.tenant.as_str(),
        };
        self.suppressions
            .add(&Suppression {
                scope: scope.to_owned(),
                channel,
                address: normalize(channel, &report.recipient),
                reason,
                created_at_ms: now_ms,
                delivery_id: Some(ids.delivery_id.to_string()),
            })
            .await?;
        crate::metrics::suppression_added(channel, reason);
        Ok(())
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

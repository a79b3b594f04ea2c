//! What a tenant receives: one JSON object per status event, made from the `DeliveryStatus`
//! read on `notify.status`. Pure.
//!
//! The object's `id` is a UUID (v5) of the event's content, so every attempt at one event, and
//! a status that reached `notify.status` twice, carry the same id: receivers drop repeats by
//! it. Field names and values are documented in `docs/webhooks.md`; new fields may be added,
//! none is removed or renamed.

use notify_schemas::records::{DeliveryStatus, Receipt, Stage, Status};
use serde::Serialize;
use uuid::Uuid;

/// Namespace of the event ids (a fixed random UUID).
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c1e_04b5_8d2f_4f0a_9a39_3e0b_57c1_d2aa);

/// The body posted for one status event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookEvent {
    /// Same for every attempt at this event.
    pub id: String,
    /// Always `notification.status`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The tenant.
    pub tenant: String,
    /// The notification (`event_id` of `POST /v1/notifications`).
    pub event_id: String,
    /// The delivery (one channel and recipient); absent for outcomes of the whole request.
    pub delivery_id: Option<String>,
    /// The recipient user.
    pub user_id: Option<String>,
    /// The notification's category.
    pub category: Option<String>,
    /// The template it was rendered from, if any.
    pub template_id: Option<String>,
    /// `apns`, `fcm`, `webpush`, `sms` or `email`.
    pub channel: Option<&'static str>,
    /// The redacted recipient.
    pub recipient: Option<String>,
    /// What happened, lower case: `accepted`, `scheduled`, `suppressed`, `sent`, `retrying`,
    /// `failed`, `expired`, `dead_lettered`, `opened`, `clicked`.
    pub status: String,
    /// What the provider reported after taking it: `delivered`, `undelivered`, `bounced`,
    /// `complained`, `opened`, `clicked`, `unsubscribed`.
    pub receipt: Option<&'static str>,
    /// Which stage reported it, lower case.
    pub stage: String,
    /// Machine-readable cause (`opted_out`, `token_invalid`, ...).
    pub reason: Option<String>,
    /// The provider account.
    pub provider: Option<String>,
    /// The provider's id for the message.
    pub provider_message_id: Option<String>,
    /// The attempt it refers to.
    pub attempt: i32,
    /// When it happened, in milliseconds since the Unix epoch.
    pub occurred_at_ms: i64,
}

/// Upper-case Avro name of a status (`SENT`), the names endpoint filters use.
pub fn status_name(status: Status) -> String {
    upper(&serde_json::to_value(status).ok())
}

fn upper(value: &Option<serde_json::Value>) -> String {
    value
        .as_ref()
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

fn stage_name(stage: Stage) -> String {
    upper(&serde_json::to_value(stage).ok()).to_ascii_lowercase()
}

/// Every name an endpoint's filter may list: the statuses and the receipts, upper case.
pub fn filter_names() -> Vec<String> {
    let mut names: Vec<String> = Status::ALL.into_iter().map(status_name).collect();
    names.extend(Receipt::ALL.iter().map(|r| r.as_str().to_ascii_uppercase()));
    names.sort();
    names.dedup();
    names
}

impl WebhookEvent {
    /// The event for `status`.
    pub fn of(status: &DeliveryStatus) -> Self {
        let mut event = WebhookEvent {
            id: String::new(),
            kind: "notification.status",
            tenant: status.tenant.clone(),
            event_id: status.event_id.to_string(),
            delivery_id: status.delivery_id.map(|d| d.to_string()),
            user_id: status.user_id.clone(),
            category: status.category.clone(),
            template_id: status.template_id.clone(),
            channel: status.channel.map(|c| c.as_str()),
            recipient: status.recipient.clone(),
            status: status_name(status.status).to_ascii_lowercase(),
            receipt: status.receipt.map(Receipt::as_str),
            stage: stage_name(status.stage),
            reason: status.reason.clone(),
            provider: status.provider.clone(),
            provider_message_id: status.provider_message_id.clone(),
            attempt: status.attempt,
            occurred_at_ms: status.occurred_at,
        };
        let content = serde_json::to_vec(&event).unwrap_or_default();
        event.id = Uuid::new_v5(&ID_NAMESPACE, &content).to_string();
        event
    }

    /// What orders this event: a later status of one delivery is never posted before an
    /// earlier one. Outcomes of the whole request are ordered by the request.
    pub fn delivery_key(&self) -> String {
        self.delivery_id
            .clone()
            .unwrap_or_else(|| self.event_id.clone())
    }

    /// Whether an endpoint whose filter is `statuses` (upper-case names; empty: all) wants it.
    pub fn wanted_by(&self, statuses: &[String]) -> bool {
        statuses.is_empty()
            || statuses.iter().any(|wanted| {
                wanted.eq_ignore_ascii_case(&self.status)
                    || self.receipt.is_some_and(|r| wanted.eq_ignore_ascii_case(r))
            })
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        // serialising plain strings and numbers cannot fail
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use notify_schemas::records::Channel;

    use super::*;

    fn status() -> DeliveryStatus {
        DeliveryStatus {
            tenant: "tn_1".into(),
            event_id: Uuid::from_u128(1),
            delivery_id: Some(Uuid::from_u128(2)),
            user_id: Some("alice".into()),
            category: Some("orders".into()),
            channel: Some(Channel::Email),
            recipient: Some("a***@example.com".into()),
            status: Status::Sent,
            stage: Stage::Tracker,
            reason: None,
            provider: Some("sendgrid".into()),
            provider_message_id: Some("m-1".into()),
            attempt: 1,
            occurred_at: 1_700_000_000_000,
            receipt: Some(Receipt::Delivered),
            template_id: Some("order_shipped".into()),
        }
    }

    #[test]
    fn the_body_names_what_happened() {
        let event = WebhookEvent::of(&status());
        let json: serde_json::Value = serde_json::from_slice(&event.body()).expect("json");
        assert_eq!(json["type"], "notification.status");
        assert_eq!(json["status"], "sent");
        assert_eq!(json["receipt"], "delivered");
        assert_eq!(json["stage"], "tracker");
        assert_eq!(json["channel"], "email");
        assert_eq!(json["delivery_id"], Uuid::from_u128(2).to_string());
        assert_eq!(json["occurred_at_ms"], 1_700_000_000_000_i64);
        assert_eq!(event.delivery_key(), Uuid::from_u128(2).to_string());
    }

    #[test]
    fn ids_are_stable_per_content() {
        let a = WebhookEvent::of(&status());
        assert_eq!(WebhookEvent::of(&status()).id, a.id);
        let mut later = status();
        later.receipt = Some(Receipt::Opened);
        assert_ne!(WebhookEvent::of(&later).id, a.id);
    }

    #[test]
    fn filters_match_statuses_and_receipts() {
        let event = WebhookEvent::of(&status());
        assert!(event.wanted_by(&[]));
        assert!(event.wanted_by(&["SENT".into()]));
        assert!(event.wanted_by(&["DELIVERED".into()]));
        assert!(!event.wanted_by(&["FAILED".into(), "OPENED".into()]));
        let names = filter_names();
        assert!(names.contains(&"DEAD_LETTERED".to_owned()), "{names:?}");
        assert!(names.contains(&"BOUNCED".to_owned()), "{names:?}");
    }
}

//! Log states of a delivery and the `DeliveryStatus` records reported for them. Pure.
//!
//! Guarantees: a status is derived only from the delivery and the notification log row written
//! for the outcome ([`status_of`]), with `occurred_at` = the row's `updated_at`, so reporting
//! the same row again (after a crash between the log write and the status acknowledgement)
//! yields a byte-identical record that status consumers collapse. Status records carry a
//! redacted recipient ([`redact`]), never a whole token, number or address.

use notify_schemas::{Delivery, DeliveryStatus, Receipt, Stage, Status};
use notify_store::notification_log::{LogEntry, LogWrite};

/// Log state: the provider accepted the message.
pub const SENT: &str = "sent";
/// Log state: permanently failed (including invalid tokens).
pub const FAILED: &str = "failed";
/// Log state: `expires_at` passed before it could be sent.
pub const EXPIRED: &str = "expired";
/// Log state: a retry is scheduled; `attempts` counts the attempts made.
pub const RETRYING: &str = "retrying";
/// Log state: moved to the dead-letter topic. Not final for dedup: a replay from the DLQ is
/// attempted again.
pub const DEAD_LETTERED: &str = "dead_lettered";

/// Whether a logged state settles the delivery for good, so a copy of it must not be sent: sent,
/// failed, expired, or a provider's receipt (the gateway writes those over `sent`, and may write
/// one first, while a send whose answer was lost waits for its retry).
pub fn is_final(state: &str) -> bool {
    matches!(state, SENT | FAILED | EXPIRED) || Receipt::ALL.iter().any(|r| r.as_str() == state)
}

/// The status reported for a log state.
pub fn status_for(state: &str) -> Option<Status> {
    Some(match state {
        SENT => Status::Sent,
        FAILED => Status::Failed,
        EXPIRED => Status::Expired,
        RETRYING => Status::Retrying,
        DEAD_LETTERED => Status::DeadLettered,
        _ => return None,
    })
}

/// The log row of one outcome of `delivery`.
pub fn log_write(
    delivery: &Delivery,
    state: &str,
    reason: Option<&str>,
    attempts: i32,
    provider: Option<&str>,
    provider_message_id: Option<String>,
    now_ms: i64,
) -> LogWrite {
    LogWrite {
        tenant: delivery.tenant.clone(),
        event_id: delivery.event_id.to_string(),
        channel: delivery.channel.as_str().to_owned(),
        recipient: delivery.recipient.key().to_owned(),
        delivery_id: delivery.delivery_id.to_string(),
        state: state.to_owned(),
        reason: reason.map(str::to_owned),
        attempts,
        provider: provider.map(str::to_owned),
        provider_message_id,
        updated_at_ms: now_ms,
    }
}

/// The same row as read back from the log.
pub fn as_write(delivery: &Delivery, entry: &LogEntry) -> LogWrite {
    LogWrite {
        tenant: delivery.tenant.clone(),
        event_id: delivery.event_id.to_string(),
        channel: entry.channel.clone(),
        recipient: entry.recipient.clone(),
        delivery_id: entry
            .delivery_id
            .clone()
            .unwrap_or_else(|| delivery.delivery_id.to_string()),
        state: entry.state.clone().unwrap_or_default(),
        reason: entry.reason.clone(),
        attempts: entry.attempts.unwrap_or(0),
        provider: entry.provider.clone(),
        provider_message_id: entry.provider_message_id.clone(),
        updated_at_ms: entry.updated_at_ms.unwrap_or(0),
    }
}

/// The status record of a logged outcome; `None` for a state that has no status.
pub fn status_of(delivery: &Delivery, row: &LogWrite) -> Option<DeliveryStatus> {
    let status = status_for(&row.state)?;
    Some(DeliveryStatus {
        reason: row.reason.clone(),
        provider: row.provider.clone(),
        provider_message_id: row.provider_message_id.clone(),
        attempt: row.attempts,
        ..DeliveryStatus::of_delivery(delivery, status, Stage::Dispatcher, row.updated_at_ms)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify_schemas::samples;

    #[test]
    fn a_reported_row_gives_the_same_status_as_reading_it_back() {
        let delivery = samples::full_sms_delivery();
        let row = log_write(
            &delivery,
            SENT,
            None,
            2,
            Some("twilio"),
            Some("SM1".into()),
            1_700_000_000_000,
        );
        let entry = LogEntry {
            channel: row.channel.clone(),
            recipient: row.recipient.clone(),
            delivery_id: Some(row.delivery_id.clone()),
            state: Some(row.state.clone()),
            reason: None,
            attempts: Some(2),
            provider: Some("twilio".into()),
            provider_message_id: Some("SM1".into()),
            updated_at_ms: Some(1_700_000_000_000),
        };
        let first = status_of(&delivery, &row).expect("status");
        assert_eq!(first.status, Status::Sent);
        assert_eq!(first.recipient.as_deref(), Some("...5678"));
        assert_eq!(
            status_of(&delivery, &as_write(&delivery, &entry)),
            Some(first)
        );
    }

    #[test]
    fn only_settled_states_stop_a_copy() {
        assert!(is_final(SENT) && is_final(FAILED) && is_final(EXPIRED));
        assert!(!is_final(RETRYING) && !is_final(DEAD_LETTERED) && !is_final(""));
        for receipt in Receipt::ALL {
            assert!(is_final(receipt.as_str()), "{receipt:?}");
        }
    }

    #[test]
    fn redaction_hides_the_recipient() {
        let delivery = samples::full_push_delivery();
        let shown = delivery.recipient.redacted();
        assert_eq!(shown, "740f47...");
        let email = samples::full_email_delivery().recipient.redacted();
        assert_eq!(email, "j***@example.com");
        let web = samples::full_webpush_delivery().recipient.redacted();
        assert_eq!(web, "https://push.example.net/...");
    }
}

//! The ledger: every message a simulator accepted, in arrival order.
//!
//! Tests read it to count losses and duplicates: every accepted send is one entry, so a
//! delivery id that appears twice was delivered twice. Entries are kept in memory; the ledger is for tests
//! and load runs, not for production.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// Which simulator accepted it (`apns`, `fcm`, `webpush`, `twilio`, `vonage`, `sendgrid`, `smtp`).
    pub provider: String,
    /// Delivery id the client sent (apns-id, FCM data, web push payload, Twilio/Vonage
    /// reference, SendGrid custom_args, SMTP header); `None` when the client sent none.
    pub delivery_id: Option<String>,
    /// Token, endpoint, number or address the message was for.
    pub recipient: String,
    /// Id the simulator answered with (apns-id, message name, SID, X-Message-Id, ...).
    pub message_id: String,
    /// Arrival time, milliseconds since the Unix epoch.
    pub arrived_at_ms: i64,
    /// What the simulator could read of the message (decrypted web push payload, SMS text,
    /// email subject, ...), for assertions.
    pub summary: serde_json::Value,
}

/// Shared, cloneable ledger.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    entries: Arc<Mutex<Vec<Accepted>>>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an accepted message, stamping its arrival time.
    pub fn record(
        &self,
        provider: &str,
        delivery_id: Option<String>,
        recipient: &str,
        message_id: &str,
        summary: serde_json::Value,
    ) {
        let entry = Accepted {
            provider: provider.to_owned(),
            delivery_id,
            recipient: recipient.to_owned(),
            message_id: message_id.to_owned(),
            arrived_at_ms: now_ms(),
            summary,
        };
        self.lock().push(entry);
    }

    /// A copy of every entry, in arrival order.
    pub fn entries(&self) -> Vec<Accepted> {
        self.lock().clone()
    }

    /// A copy of the entries after the first `skip`, in arrival order.
    pub fn entries_from(&self, skip: usize) -> Vec<Accepted> {
        self.lock().iter().skip(skip).cloned().collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was accepted yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Accepted>> {
        // A panic while holding the lock cannot leave a Vec half-pushed; keep serving.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Milliseconds since the Unix epoch. The simulators keep this one copy rather than depend on
/// the pipeline's `notify-common`: they stand for the outside world and share no code with
/// the stages they test.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

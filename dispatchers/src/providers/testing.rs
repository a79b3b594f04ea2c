//! A scriptable [`Provider`] for tests: records every send and answers with the outcomes
//! scripted per recipient (sent by default). Not for production use.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use notify_schemas::Delivery;

use crate::providers::provider::{Outcome, Provider};

/// One send the fake saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Recipient key (token, endpoint, number, address).
    pub recipient: String,
    /// The delivery id.
    pub delivery_id: String,
    /// The delivery's user.
    pub user_id: String,
    /// `attempt` of the record that was sent (attempts made before it).
    pub attempt: i32,
    /// Milliseconds since the epoch when the send began.
    pub at_ms: i64,
}

/// A provider that answers from a script.
#[derive(Debug, Default)]
pub struct FakeProvider {
    script: Mutex<HashMap<String, VecDeque<Outcome>>>,
    sends: Mutex<Vec<Sent>>,
    delay: Mutex<HashMap<String, Duration>>,
    running: AtomicUsize,
    most_running: AtomicUsize,
}

impl FakeProvider {
    /// Accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next sends to `recipient` answer `outcomes`, in order; later ones are accepted.
    pub fn script(&self, recipient: &str, outcomes: impl IntoIterator<Item = Outcome>) {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(recipient.to_owned())
            .or_default()
            .extend(outcomes);
    }

    /// Sends to `recipient` take `delay` before answering.
    pub fn slow(&self, recipient: &str, delay: Duration) {
        self.delay
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(recipient.to_owned(), delay);
    }

    /// Every send so far, in the order they began.
    pub fn sends(&self) -> Vec<Sent> {
        self.sends.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The most sends that were in progress at one time.
    pub fn max_concurrent(&self) -> usize {
        self.most_running.load(Ordering::SeqCst)
    }

    /// Sends to `recipient` so far.
    pub fn sends_to(&self, recipient: &str) -> usize {
        self.sends()
            .iter()
            .filter(|s| s.recipient == recipient)
            .count()
    }
}

#[async_trait]
impl Provider for FakeProvider {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn send(&self, delivery: &Delivery) -> Outcome {
        let recipient = delivery.recipient.key().to_owned();
        self.sends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Sent {
                recipient: recipient.clone(),
                delivery_id: delivery.delivery_id.to_string(),
                user_id: delivery.user_id.clone(),
                attempt: delivery.attempt,
                at_ms: notify_common::clock::now_ms(),
            });
        let delay = self
            .delay
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&recipient)
            .copied();
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(running, Ordering::SeqCst);
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        let scripted = self
            .script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&recipient)
            .and_then(VecDeque::pop_front);
        scripted.unwrap_or_else(|| Outcome::Sent {
            provider_message_id: Some(format!("fake-{}", delivery.delivery_id)),
        })
    }
}

//! Fault injection shared by every simulator.
//!
//! A simulator asks [`Faults::next`] once per request with the request's recipient; the answer
//! is the fault to act out, if any. Rules are checked in order; a rule with a count is used up
//! after that many requests, so "answer 429 three times, then recover" is one rule. A fixed
//! latency applies to every request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a simulator should do instead of (or before) accepting a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this HTTP status (or the provider's equivalent error), with `Retry-After`
    /// in seconds when given. Each simulator writes the provider's own error body for it.
    Status {
        /// HTTP status code, e.g. 429, 500, 503, 410.
        code: u16,
        /// `Retry-After` seconds.
        #[serde(default)]
        retry_after_s: Option<u64>,
    },
    /// Close the connection mid-request without answering, before accepting the message.
    Drop,
    /// Accept the message (it is in the ledger, as a provider that delivered it), then close
    /// the connection without answering: the client cannot know it was delivered. HTTP/2 push
    /// simulators (APNs, FCM) only; the others treat it as [`Fault::Drop`].
    DropAfterAccept,
    /// Send `GOAWAY` on the request's connection (a graceful shutdown: streams already
    /// received are served, later ones are refused, the client opens a new connection), then
    /// answer this request normally. HTTP/2 push simulators only; the others ignore it.
    GoAway,
    /// Wait this long, then answer normally.
    Slow {
        /// Delay in milliseconds.
        ms: u64,
    },
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// What to do.
    pub fault: Fault,
    /// How many requests this rule applies to; `None` means every matching request.
    #[serde(default)]
    pub count: Option<u32>,
    /// Only requests for these recipients (token, endpoint, number, address); empty means all.
    #[serde(default)]
    pub recipients: Vec<String>,
}

/// The fault settings of one simulator, as set over HTTP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSettings {
    /// Added to every request before answering.
    #[serde(default)]
    pub latency_ms: u64,
    /// Rules, checked in order.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    /// Tokens (or endpoints) the provider reports as no longer valid, with the time in
    /// milliseconds since the epoch at which they became invalid (APNs `timestamp`).
    #[serde(default)]
    pub invalid_tokens: BTreeMap<String, i64>,
}

/// Shared, cloneable fault state of one simulator.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    settings: Arc<Mutex<FaultSettings>>,
}

impl Faults {
    /// No faults, no latency.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the settings.
    pub fn set(&self, settings: FaultSettings) {
        *self.lock() = settings;
    }

    /// The current settings.
    pub fn get(&self) -> FaultSettings {
        self.lock().clone()
    }

    /// The fixed latency to add to every request.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.lock().latency_ms)
    }

    /// The fault to act out for a request to `recipient`, using up one count of its rule.
    pub fn next(&self, recipient: &str) -> Option<Fault> {
        let mut settings = self.lock();
        let position = settings.rules.iter().position(|rule| {
            rule.count != Some(0)
                && (rule.recipients.is_empty() || rule.recipients.iter().any(|r| r == recipient))
        })?;
        let rule = &mut settings.rules[position];
        if let Some(count) = rule.count.as_mut() {
            *count -= 1;
        }
        Some(rule.fault.clone())
    }

    /// When `token` became invalid, if the provider considers it invalid.
    pub fn invalid_since(&self, token: &str) -> Option<i64> {
        self.lock().invalid_tokens.get(token).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultSettings> {
        self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_are_used_up_in_order() {
        let faults = Faults::new();
        faults.set(FaultSettings {
            rules: vec![
                FaultRule {
                    fault: Fault::Status {
                        code: 429,
                        retry_after_s: Some(2),
                    },
                    count: Some(2),
                    recipients: vec![],
                },
                FaultRule {
                    fault: Fault::Drop,
                    count: None,
                    recipients: vec!["bad".into()],
                },
            ],
            ..FaultSettings::default()
        });
        assert!(matches!(
            faults.next("a"),
            Some(Fault::Status { code: 429, .. })
        ));
        assert!(matches!(
            faults.next("b"),
            Some(Fault::Status { code: 429, .. })
        ));
        assert_eq!(faults.next("a"), None);
        assert_eq!(faults.next("bad"), Some(Fault::Drop));
        assert_eq!(faults.next("bad"), Some(Fault::Drop));
    }
}

//! The narrow trait every provider client implements, and the classified outcome of one send.
//!
//! Guarantees: an [`Outcome`] says in its variant whether the failure is transient
//! ([`Outcome::Retry`]) or permanent ([`Outcome::Failed`], [`Outcome::InvalidRecipient`]); the
//! consumer loop never has to parse text to decide. Reasons come from a small fixed set
//! ([`Reason`]) so they can be metric labels and status reasons.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use notify_schemas::records::TimestampMillis;
use notify_schemas::Delivery;

/// Machine-readable cause of a failed send; the `reason` of the status record and a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The provider throttled us (429, quota exceeded).
    RateLimited,
    /// The provider failed or is unavailable (5xx, UNAVAILABLE, INTERNAL).
    ProviderUnavailable,
    /// The request never reached the provider: the connection failed, or the provider refused
    /// the stream unprocessed (`REFUSED_STREAM`, a stream above a `GOAWAY`'s last stream id).
    /// Retrying cannot make a duplicate.
    Connection,
    /// The request was sent but its answer was lost (the connection dropped mid-stream, or the
    /// send timed out): the provider may have delivered it, so a retry may arrive twice. Push
    /// retries carry the same collapse id, so a device shows one.
    AnswerLost,
    /// Our credentials were refused (expired or invalid provider token, bad API key).
    ProviderAuth,
    /// The device token or subscription is no longer valid (410, UNREGISTERED, 404).
    TokenInvalid,
    /// The phone number or email address is invalid.
    BadAddress,
    /// The recipient unsubscribed at the provider (e.g. Twilio 21610).
    Unsubscribed,
    /// The provider rejected the message itself (too large, malformed).
    BadMessage,
    /// The provider answered something we could not understand.
    UnexpectedResponse,
    /// The delivery cannot go through this provider (wrong recipient or content kind,
    /// endpoint not allowed).
    Unsupported,
}

impl Reason {
    /// The reason as it appears in status records and metric labels.
    /// Every reason, for registering their metric series.
    pub const ALL: [Reason; 11] = [
        Reason::RateLimited,
        Reason::ProviderUnavailable,
        Reason::Connection,
        Reason::AnswerLost,
        Reason::ProviderAuth,
        Reason::TokenInvalid,
        Reason::BadAddress,
        Reason::Unsubscribed,
        Reason::BadMessage,
        Reason::UnexpectedResponse,
        Reason::Unsupported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::RateLimited => "rate_limited",
            Reason::ProviderUnavailable => "provider_unavailable",
            Reason::Connection => "connection",
            Reason::AnswerLost => "answer_lost",
            Reason::ProviderAuth => "provider_auth",
            Reason::TokenInvalid => "token_invalid",
            Reason::BadAddress => "bad_address",
            Reason::Unsubscribed => "unsubscribed",
            Reason::BadMessage => "bad_message",
            Reason::UnexpectedResponse => "unexpected_response",
            Reason::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one send attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider accepted the message.
    Sent {
        /// Id the provider gave the message (apns-id, FCM message name, Twilio SID, ...).
        provider_message_id: Option<String>,
    },
    /// A transient failure: try again later, no earlier than `after` when the provider said so
    /// (`Retry-After`, `X-RateLimit-Reset`).
    Retry {
        /// Why.
        reason: Reason,
        /// Provider-requested wait.
        after: Option<Duration>,
        /// Short human-readable detail (status code, provider error code); no secrets.
        detail: String,
    },
    /// A permanent failure of this message: retrying cannot help.
    Failed {
        /// Why.
        reason: Reason,
        /// Short human-readable detail; no secrets.
        detail: String,
    },
    /// The token or subscription is gone: disable it in the directory.
    InvalidRecipient {
        /// Why (usually [`Reason::TokenInvalid`]).
        reason: Reason,
        /// When the provider says the token stopped being valid (APNs `timestamp`); a token
        /// re-registered after this time stays enabled.
        since: Option<TimestampMillis>,
        /// Short human-readable detail; no secrets.
        detail: String,
    },
}

impl Outcome {
    /// A transient failure with no provider-requested wait.
    pub fn retry(reason: Reason, detail: impl Into<String>) -> Self {
        Outcome::Retry {
            reason,
            after: None,
            detail: detail.into(),
        }
    }

    /// A permanent failure.
    pub fn failed(reason: Reason, detail: impl Into<String>) -> Self {
        Outcome::Failed {
            reason,
            detail: detail.into(),
        }
    }

    /// Whether the outcome is a transient failure.
    pub fn is_retry(&self) -> bool {
        matches!(self, Outcome::Retry { .. })
    }
}

/// One provider account: sends one delivery on the provider's wire protocol.
///
/// Implementations cap how much of an answer they read, never panic on an answer, never log or
/// return credentials, and pick up replaced credential files without a restart.
#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// Provider name for status records and metrics, e.g. `apns`, `twilio`, `smtp`.
    fn name(&self) -> &'static str;

    /// Sends one delivery and classifies the answer.
    async fn send(&self, delivery: &Delivery) -> Outcome;

    /// [`Provider::send`], with the name of the provider that gave the outcome: this one, or
    /// for a failover chain the member that took or refused the send (what a status record
    /// names).
    async fn send_named(&self, delivery: &Delivery) -> (Outcome, &'static str) {
        (self.send(delivery).await, self.name())
    }
}

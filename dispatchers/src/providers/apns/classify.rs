//! Pure classification of an APNs answer: status, JSON error body, `apns-id` and `Retry-After`
//! to an [`Outcome`]. Nothing here touches the network.
//!
//! Guarantees: never panics on what APNs answers and never copies the device token into a
//! detail; a credential problem (403) is retried, never blamed on the device.

use std::time::Duration;

use serde::Deserialize;

use crate::providers::provider::{Outcome, Reason};
use crate::providers::push_http::short;

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    reason: Option<String>,
    timestamp: Option<i64>,
}

/// What APNs answered, as far as classification cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `reason` of the JSON error body.
    pub reason: Option<String>,
    /// `timestamp` of a 410 body, epoch milliseconds.
    pub timestamp: Option<i64>,
    /// `apns-id` response header.
    pub apns_id: Option<String>,
    /// `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl Answer {
    /// Reads an answer; an unparseable body leaves `reason` and `timestamp` empty.
    pub(crate) fn new(
        status: u16,
        body: &[u8],
        apns_id: Option<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        Self {
            status,
            reason: parsed.reason.map(|r| short(&r, 64)),
            timestamp: parsed.timestamp,
            apns_id,
            retry_after,
        }
    }

    /// A 403 that a new provider token may cure.
    pub(crate) fn is_token_rejection(&self) -> bool {
        self.status == 403
            && matches!(
                self.reason.as_deref(),
                Some("ExpiredProviderToken" | "InvalidProviderToken")
            )
    }
}

/// The outcome an APNs answer means.
pub(crate) fn classify(answer: &Answer) -> Outcome {
    let reason = answer.reason.as_deref().unwrap_or("no reason");
    let detail = format!("{} {reason}", answer.status);
    let retry = |why: Reason| Outcome::Retry {
        reason: why,
        after: answer.retry_after,
        detail: detail.clone(),
    };
    match answer.status {
        200 => Outcome::Sent {
            provider_message_id: answer.apns_id.clone(),
        },
        410 => Outcome::InvalidRecipient {
            reason: Reason::TokenInvalid,
            since: answer.timestamp,
            detail,
        },
        400 if matches!(
            reason,
            "BadDeviceToken" | "DeviceTokenNotForTopic" | "ExpiredToken"
        ) =>
        {
            Outcome::InvalidRecipient {
                reason: Reason::TokenInvalid,
                since: answer.timestamp,
                detail,
            }
        }
        // A credential problem is never the device's fault: keep the message until an operator
        // fixes the key, team or certificate.
        403 => retry(Reason::ProviderAuth),
        400 | 413 => Outcome::failed(Reason::BadMessage, detail),
        429 => retry(Reason::RateLimited),
        500..=599 => retry(Reason::ProviderUnavailable),
        status if (400..500).contains(&status) => {
            Outcome::failed(Reason::UnexpectedResponse, detail)
        }
        _ => retry(Reason::UnexpectedResponse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_support::{assert_outcome, assert_sent, Kind};

    fn answer(status: u16, body: &str) -> Answer {
        Answer::new(status, body.as_bytes(), None, Some(Duration::from_secs(3)))
    }

    #[test]
    fn answers_are_classified() {
        assert_sent(&classify(&answer(200, "")));
        assert!(matches!(
            classify(&answer(410, r#"{"reason":"Unregistered","timestamp":42}"#)),
            Outcome::InvalidRecipient {
                since: Some(42),
                ..
            }
        ));
        assert!(matches!(
            classify(&answer(410, "garbage")),
            Outcome::InvalidRecipient { since: None, .. }
        ));
        assert!(matches!(
            classify(&answer(400, r#"{"reason":"DeviceTokenNotForTopic"}"#)),
            Outcome::InvalidRecipient { .. }
        ));
        use Kind::{Failed, Retry};
        use Reason::*;
        for (status, body, kind, reason) in [
            (400, r#"{"reason":"BadCollapseId"}"#, Failed, BadMessage),
            (413, r#"{"reason":"PayloadTooLarge"}"#, Failed, BadMessage),
            (403, r#"{"reason":"BadCertificate"}"#, Retry, ProviderAuth),
            (503, "<html>", Retry, ProviderUnavailable),
            (404, r#"{"reason":"BadPath"}"#, Failed, UnexpectedResponse),
            (302, "", Retry, UnexpectedResponse),
        ] {
            assert_outcome(&classify(&answer(status, body)), kind, reason);
        }
        assert!(matches!(
            classify(&answer(429, "")),
            Outcome::Retry {
                reason: Reason::RateLimited,
                after: Some(_),
                ..
            }
        ));
        assert!(answer(403, r#"{"reason":"ExpiredProviderToken"}"#).is_token_rejection());
        assert!(!answer(403, r#"{"reason":"Forbidden"}"#).is_token_rejection());
        let long = format!(r#"{{"reason":"{}"}}"#, "x".repeat(500));
        assert!(answer(400, &long).reason.unwrap().len() <= 64);
    }
}

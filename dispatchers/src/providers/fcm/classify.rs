//! Pure classification of an FCM HTTP v1 answer to an [`Outcome`]. Nothing here touches the
//! network.
//!
//! Guarantees: reads `error.details[].errorCode` first (the FCM-specific code is
//! authoritative), then the HTTP status; never panics on what FCM answers.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::providers::provider::{Outcome, Reason};
use crate::providers::push_http::short;

/// Wait after `QUOTA_EXCEEDED` when FCM gives no `Retry-After` (its documented minimum).
pub const QUOTA_RETRY_AFTER: Duration = Duration::from_secs(60);
const FCM_ERROR_TYPE: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    error: Option<RpcStatus>,
}

#[derive(Debug, Default, Deserialize)]
struct RpcStatus {
    status: Option<String>,
    #[serde(default)]
    details: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct SentBody {
    name: Option<String>,
}

/// What FCM answered, as far as classification cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `details[].errorCode` of the FcmError detail.
    pub error_code: Option<String>,
    /// The google.rpc `status` (`NOT_FOUND`, `UNAUTHENTICATED`, ...).
    pub rpc_status: Option<String>,
    /// `name` of a sent message.
    pub name: Option<String>,
    /// `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl Answer {
    /// Reads an answer; an unparseable body leaves the codes empty.
    pub(crate) fn new(status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        if status == 200 {
            let sent: SentBody = serde_json::from_slice(body).unwrap_or_default();
            return Self {
                status,
                error_code: None,
                rpc_status: None,
                name: sent.name.map(|n| short(&n, 200)),
                retry_after,
            };
        }
        let error = serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .and_then(|b| b.error)
            .unwrap_or_default();
        let error_code = error
            .details
            .iter()
            .filter(|d| d.get("@type").and_then(Value::as_str) == Some(FCM_ERROR_TYPE))
            .find_map(|d| d.get("errorCode").and_then(Value::as_str))
            .map(|c| short(c, 64));
        Self {
            status,
            error_code,
            rpc_status: error.status.map(|s| short(&s, 64)),
            name: None,
            retry_after,
        }
    }

    /// A 401 without an FCM error code: our access token expired or was revoked.
    pub(crate) fn is_access_token_rejection(&self) -> bool {
        self.status == 401 && self.error_code.is_none()
    }
}

/// The outcome an FCM answer means.
pub(crate) fn classify(answer: &Answer) -> Outcome {
    if answer.status == 200 {
        return Outcome::Sent {
            provider_message_id: answer.name.clone(),
        };
    }
    let code = answer
        .error_code
        .as_deref()
        .or(answer.rpc_status.as_deref())
        .unwrap_or("no error code");
    let detail = format!("{} {code}", answer.status);
    let retry = |why: Reason| Outcome::Retry {
        reason: why,
        after: answer.retry_after,
        detail: detail.clone(),
    };
    let gone = |detail: String| Outcome::InvalidRecipient {
        reason: Reason::TokenInvalid,
        since: None,
        detail,
    };
    match answer.error_code.as_deref() {
        Some("UNREGISTERED") | Some("SENDER_ID_MISMATCH") => return gone(detail),
        Some("INVALID_ARGUMENT") => return Outcome::failed(Reason::BadMessage, detail),
        // FCM asks for at least a minute before retrying an exceeded quota.
        Some("QUOTA_EXCEEDED") => {
            return Outcome::Retry {
                reason: Reason::RateLimited,
                after: Some(answer.retry_after.unwrap_or(QUOTA_RETRY_AFTER)),
                detail,
            }
        }
        Some("UNAVAILABLE") | Some("INTERNAL") => return retry(Reason::ProviderUnavailable),
        // The APNs certificate or web push key in the Firebase console: an operator's fix.
        Some("THIRD_PARTY_AUTH_ERROR") | Some("APNS_AUTH_ERROR") => {
            return retry(Reason::ProviderAuth)
        }
        _ => {}
    }
    match answer.status {
        400 => Outcome::failed(Reason::BadMessage, detail),
        401 | 403 => retry(Reason::ProviderAuth),
        429 => retry(Reason::RateLimited),
        500..=599 => retry(Reason::ProviderUnavailable),
        // A bare 404 is a wrong project or URL, not a dead token.
        status if (400..500).contains(&status) => {
            Outcome::failed(Reason::UnexpectedResponse, detail)
        }
        _ => retry(Reason::UnexpectedResponse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_support::{assert_outcome, Kind};
    use serde_json::json;

    fn answer(status: u16, error_code: Option<&str>, rpc: &str) -> Answer {
        let mut error = json!({ "code": status, "message": "m", "status": rpc });
        if let Some(code) = error_code {
            error["details"] = json!([
                { "@type": "type.googleapis.com/google.rpc.BadRequest", "errorCode": "IGNORED" },
                { "@type": FCM_ERROR_TYPE, "errorCode": code }
            ]);
        }
        let body = json!({ "error": error }).to_string();
        Answer::new(status, body.as_bytes(), None)
    }

    #[test]
    fn the_fcm_error_code_decides() {
        assert!(matches!(
            classify(&answer(404, Some("UNREGISTERED"), "NOT_FOUND")),
            Outcome::InvalidRecipient { .. }
        ));
        // The FCM code is authoritative even under another top-level status.
        assert!(matches!(
            classify(&answer(400, Some("UNREGISTERED"), "INVALID_ARGUMENT")),
            Outcome::InvalidRecipient { .. }
        ));
        use Kind::{Failed, Retry};
        use Reason::*;
        let (invalid, third_party) = (Some("INVALID_ARGUMENT"), Some("THIRD_PARTY_AUTH_ERROR"));
        for (status, code, rpc, kind, reason) in [
            (400, invalid, "INVALID_ARGUMENT", Failed, BadMessage),
            (401, third_party, "UNAUTHENTICATED", Retry, ProviderAuth),
            (404, None, "NOT_FOUND", Failed, UnexpectedResponse),
            (502, None, "", Retry, ProviderUnavailable),
        ] {
            assert_outcome(&classify(&answer(status, code, rpc)), kind, reason);
        }
        assert_eq!(
            classify(&answer(429, Some("QUOTA_EXCEEDED"), "RESOURCE_EXHAUSTED")),
            Outcome::Retry {
                reason: Reason::RateLimited,
                after: Some(QUOTA_RETRY_AFTER),
                detail: "429 QUOTA_EXCEEDED".into()
            }
        );
        assert!(answer(401, None, "UNAUTHENTICATED").is_access_token_rejection());
        assert!(
            !answer(401, Some("THIRD_PARTY_AUTH_ERROR"), "UNAUTHENTICATED")
                .is_access_token_rejection()
        );
        let sent = Answer::new(200, br#"{"name":"projects/p/messages/1"}"#, None);
        assert_eq!(
            classify(&sent),
            Outcome::Sent {
                provider_message_id: Some("projects/p/messages/1".into())
            }
        );
        let garbled = Answer::new(200, b"not json", None);
        assert_eq!(
            classify(&garbled),
            Outcome::Sent {
                provider_message_id: None
            }
        );
    }
}

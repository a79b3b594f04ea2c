//! Pure classification of a push service's answer (status, `Location`, `Retry-After`, an
//! excerpt of the body) to an [`Outcome`]; the table of what each answer means, and why, is in
//! the docs of `service.rs`. Nothing here touches the network.
//!
//! Guarantees: never panics on what a push service answers; details are short single lines.

use reqwest::header::{HeaderMap, LOCATION};
use reqwest::StatusCode;

use crate::providers::http::retry_after;
use crate::providers::provider::{Outcome, Reason};

/// Longest `Location` value kept as the provider message id.
const MAX_MESSAGE_ID_CHARS: usize = 256;
/// Longest excerpt of an error answer kept in an outcome's detail.
const MAX_DETAIL_CHARS: usize = 160;

/// Classifies a push service's answer; see the table in the docs of `service.rs`.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Outcome {
    let code = status.as_u16();
    let detail = || {
        let text: String = String::from_utf8_lossy(body)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_DETAIL_CHARS)
            .collect();
        let text = text.trim();
        if text.is_empty() {
            format!("http {code}")
        } else {
            format!("http {code}: {text}")
        }
    };
    match code {
        200..=299 => Outcome::Sent {
            provider_message_id: headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(MAX_MESSAGE_ID_CHARS).collect()),
        },
        404 | 410 => Outcome::InvalidRecipient {
            reason: Reason::TokenInvalid,
            since: None,
            detail: detail(),
        },
        400 | 413 => Outcome::failed(Reason::BadMessage, detail()),
        401 => Outcome::Retry {
            reason: Reason::ProviderAuth,
            after: retry_after(headers),
            detail: detail(),
        },
        403 if String::from_utf8_lossy(body).contains("JwtToken") => Outcome::Retry {
            reason: Reason::ProviderAuth,
            after: retry_after(headers),
            detail: detail(),
        },
        403 => Outcome::failed(Reason::ProviderAuth, detail()),
        408 => Outcome::retry(Reason::Connection, detail()),
        429 => Outcome::Retry {
            reason: Reason::RateLimited,
            after: retry_after(headers),
            detail: detail(),
        },
        500..=599 => Outcome::Retry {
            reason: Reason::ProviderUnavailable,
            after: retry_after(headers),
            detail: detail(),
        },
        _ => Outcome::failed(Reason::UnexpectedResponse, detail()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::header::{HeaderValue, RETRY_AFTER};

    use super::*;
    use crate::providers::test_support::{assert_outcome, Kind};

    #[test]
    fn answers_are_classified_per_the_table() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LOCATION,
            HeaderValue::from_static("https://push.example/m/42"),
        );
        assert_eq!(
            classify(StatusCode::CREATED, &headers, b""),
            Outcome::Sent {
                provider_message_id: Some("https://push.example/m/42".into())
            }
        );
        assert!(matches!(
            classify(StatusCode::ACCEPTED, &HeaderMap::new(), b""),
            Outcome::Sent {
                provider_message_id: None
            }
        ));
        for gone in [StatusCode::NOT_FOUND, StatusCode::GONE] {
            assert_outcome(
                &classify(gone, &HeaderMap::new(), b"{\"errno\":106}"),
                Kind::InvalidRecipient,
                Reason::TokenInvalid,
            );
        }
        for bad in [StatusCode::PAYLOAD_TOO_LARGE, StatusCode::BAD_REQUEST] {
            assert_outcome(
                &classify(bad, &HeaderMap::new(), b""),
                Kind::Failed,
                Reason::BadMessage,
            );
        }
        assert_outcome(
            &classify(StatusCode::UNAUTHORIZED, &HeaderMap::new(), b""),
            Kind::Retry,
            Reason::ProviderAuth,
        );
        assert_outcome(
            &classify(
                StatusCode::FORBIDDEN,
                &HeaderMap::new(),
                br#"{"reason":"BadJwtToken"}"#,
            ),
            Kind::Retry,
            Reason::ProviderAuth,
        );
        assert_outcome(&classify(StatusCode::FORBIDDEN, &HeaderMap::new(), b"the key in the authorization header does not correspond to the sender ID used to subscribe this user"), Kind::Failed, Reason::ProviderAuth);
        let mut retry = HeaderMap::new();
        retry.insert(RETRY_AFTER, HeaderValue::from_static("30"));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &retry, b"slow down"),
            Outcome::Retry {
                reason: Reason::RateLimited,
                after: Some(Duration::from_secs(30)),
                detail: "http 429: slow down".into()
            }
        );
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &retry, b""),
            Outcome::Retry {
                reason: Reason::ProviderUnavailable,
                after: Some(_),
                ..
            }
        ));
        assert!(matches!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, &HeaderMap::new(), b""),
            Outcome::Retry {
                reason: Reason::ProviderUnavailable,
                after: None,
                ..
            }
        ));
        assert_outcome(
            &classify(StatusCode::MOVED_PERMANENTLY, &HeaderMap::new(), b""),
            Kind::Failed,
            Reason::UnexpectedResponse,
        );
        // Detail is short and single-line whatever the body.
        let long = "line\n".repeat(1000);
        let Outcome::Failed { detail, .. } =
            classify(StatusCode::BAD_REQUEST, &HeaderMap::new(), long.as_bytes())
        else {
            panic!("400 is a failure");
        };
        assert!(detail.len() < 200 && !detail.contains('\n'));
    }
}

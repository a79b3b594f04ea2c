//! Inbound SMS: Twilio's "a message comes in" webhook (`POST /v1/receipts/twilio/inbound`, the
//! status callback URL followed by `/inbound`, signed like status callbacks). A message that is
//! one of the carriers' opt-out keywords (STOP and its synonyms) puts the sender's number on the
//! suppression list for every tenant, since every tenant sends from the shared number: the
//! router then suppresses SMS to the user with that number as `opted_out`. An opt-in keyword
//! (START, UNSTOP, YES) takes it off again. Any other message is taken and ignored.
//!
//! The answer is an empty TwiML document, so nothing is sent back from here: Twilio answers the
//! keywords itself (its opt-out handling also refuses further sends to the number, error 21610).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use notify_schemas::Channel;
use notify_store::suppressions::{normalize, Suppression, SuppressionReason, EVERY_TENANT};

use super::routes::{configured, twilio_signed};
use crate::problem::Problem;
use crate::state::AppState;

/// What an inbound message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Stop sending to this number.
    OptOut,
    /// Start sending again.
    OptIn,
    /// Anything else.
    Other,
}

impl Keyword {
    /// The keyword a message body is: the whole body, trimmed, in any case, as carriers match
    /// them (a sentence that contains "stop" is not one).
    pub fn of(body: &str) -> Self {
        let word = body.trim().to_ascii_uppercase();
        match word.as_str() {
            "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "OPTOUT"
            | "REVOKE" => Keyword::OptOut,
            "START" | "UNSTOP" | "YES" => Keyword::OptIn,
            _ => Keyword::Other,
        }
    }
}

const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// `POST /v1/receipts/twilio/inbound`: a message a user sent to the platform's number.
pub async fn twilio_inbound(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((receipts, twilio)) = configured(&state, |r| r.twilio.as_ref()) else {
        return Problem::not_found("route").into_response();
    };
    let url = format!("{}/inbound", twilio.callback_url);
    let params = match twilio_signed(twilio, &url, &headers, &body) {
        Ok(params) => params,
        Err(refusal) => return *refusal,
    };
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(from), Some(text)) = (field("From"), field("Body")) else {
        return Problem::bad_request("an inbound message needs From and Body").into_response();
    };
    let number = normalize(Channel::Sms, from);
    let changed = match Keyword::of(text) {
        Keyword::OptOut => {
            let entry = Suppression {
                scope: EVERY_TENANT.to_owned(),
                channel: Channel::Sms,
                address: number,
                reason: SuppressionReason::Stopped,
                created_at_ms: receipts.clock.now_ms(),
                delivery_id: None,
            };
            let added = receipts.suppressions.add(&entry).await;
            if added.is_ok() {
                crate::metrics::suppression_added(Channel::Sms, SuppressionReason::Stopped);
            }
            added
        }
        Keyword::OptIn => {
            receipts
                .suppressions
                .remove(EVERY_TENANT, Channel::Sms, &number)
                .await
        }
        Keyword::Other => Ok(()),
    };
    match changed {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            EMPTY_TWIML,
        )
            .into_response(),
        // Twilio retries a webhook answered 5xx
        Err(err) => Problem::outage("opt-out not recorded", &err, "try again").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::Keyword;

    #[test]
    fn keywords_are_whole_messages_in_any_case() {
        for stop in ["STOP", " stop\n", "Unsubscribe", "quit", "STOPALL"] {
            assert_eq!(Keyword::of(stop), Keyword::OptOut, "{stop:?}");
        }
        for start in ["START", "unstop", "Yes"] {
            assert_eq!(Keyword::of(start), Keyword::OptIn, "{start:?}");
        }
        for other in ["please stop", "stop!", "", "HELP"] {
            assert_eq!(Keyword::of(other), Keyword::Other, "{other:?}");
        }
    }
}

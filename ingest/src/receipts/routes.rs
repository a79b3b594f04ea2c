//! The receipt routes: each checks its provider's signature, then hands what it reports to
//! [`Receipts::record`].

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use notify_schemas::Channel;

use super::{sendgrid, twilio, vonage, CallbackIds, Receipts, TwilioReceipts};
use crate::problem::Problem;
use crate::state::AppState;

/// The receipts and one provider's settings, if that provider's receipts are configured (the
/// route answers 404 otherwise).
pub(super) fn configured<'a, T>(
    state: &'a AppState,
    provider: impl FnOnce(&'a Receipts) -> Option<&'a T>,
) -> Option<(&'a Receipts, &'a T)> {
    let receipts = state.receipts.as_deref()?;
    Some((receipts, provider(receipts)?))
}

/// `POST /v1/receipts/twilio`: a Twilio status callback.
pub async fn twilio_callback(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((receipts, twilio)) = configured(&state, |r| r.twilio.as_ref()) else {
        return Problem::not_found("route").into_response();
    };
    let query = query.unwrap_or_default();
    let url = if query.is_empty() {
        twilio.callback_url.clone()
    } else {
        format!("{}?{query}", twilio.callback_url)
    };
    let params = match twilio_signed(twilio, &url, &headers, &body) {
        Ok(params) => params,
        Err(refusal) => return *refusal,
    };
    let Some(report) = twilio::report(&params) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let ids: CallbackIds = match callback_ids(&query) {
        Ok(ids) => ids,
        Err(err) => {
            crate::metrics::receipt_refused("twilio", "ids");
            return Problem::bad_request(format!("callback URL: {err}")).into_response();
        }
    };
    match receipts
        .record(state.publisher.as_ref(), Channel::Sms, &ids, &report)
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => Problem::outage("receipt not recorded", &err, "try again").into_response(),
    }
}

/// The form fields of a Twilio webhook to `url`, if its `X-Twilio-Signature` verifies with the
/// account's auth token; the answer to give otherwise.
pub(super) fn twilio_signed(
    twilio: &TwilioReceipts,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, Box<Response>> {
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let token = twilio.auth_token.read().map_err(|err| {
        Box::new(Problem::outage("twilio auth token", &err, "receipts unavailable").into_response())
    })?;
    let signed = headers
        .get(twilio::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|header| twilio::verify(&token, url, &params, header));
    if !signed {
        return Err(Box::new(refused("twilio", "signature")));
    }
    Ok(params)
}

/// The delivery ids in a callback URL's query.
fn callback_ids(query: &str) -> Result<CallbackIds, String> {
    let pairs: serde_json::Map<String, serde_json::Value> =
        form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect();
    serde_json::from_value(serde_json::Value::Object(pairs)).map_err(|e| e.to_string())
}

/// `POST /v1/receipts/sendgrid`: a batch of SendGrid Event Webhook events.
pub async fn sendgrid_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((receipts, config)) = configured(&state, |r| r.sendgrid.as_ref()) else {
        return Problem::not_found("route").into_response();
    };
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (
        header(sendgrid::SIGNATURE_HEADER),
        header(sendgrid::TIMESTAMP_HEADER),
    ) else {
        return refused("sendgrid", "signature");
    };
    if !sendgrid::verify(&config.key, timestamp, &body, signature) {
        return refused("sendgrid", "signature");
    }
    if !sendgrid::fresh(timestamp, receipts.clock.now_ms()) {
        return refused("sendgrid", "stale");
    }
    let first = receipts
        .seen
        .entry(signature.to_owned())
        .or_insert(())
        .await
        .is_fresh();
    if !first {
        return refused("sendgrid", "replay");
    }
    let reports = match sendgrid::reports(&body) {
        Ok(reports) => reports,
        Err(err) => return Problem::bad_request(format!("events: {err}")).into_response(),
    };
    for (ids, report) in &reports {
        let recorded = receipts
            .record(state.publisher.as_ref(), Channel::Email, ids, report)
            .await;
        if let Err(err) = recorded {
            // SendGrid posts the batch again, signed anew; what was recorded is a replay then
            receipts.seen.invalidate(signature).await;
            return Problem::outage("receipt not recorded", &err, "try again").into_response();
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

/// 403 for a webhook that is not taken (bad signature, stale, replayed), counted by `reason`;
/// the answer says nothing about why.
fn refused(provider: &'static str, reason: &'static str) -> Response {
    crate::metrics::receipt_refused(provider, reason);
    (StatusCode::FORBIDDEN, "webhook refused").into_response()
}

/// `POST /v1/receipts/vonage`: a Vonage SMS API delivery receipt (form-encoded, signed).
pub async fn vonage_receipt(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some((receipts, config)) = configured(&state, |r| r.vonage.as_ref()) else {
        return Problem::not_found("route").into_response();
    };
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let secret = match config.signature_secret.read() {
        Ok(secret) => secret,
        Err(err) => {
            return Problem::outage("vonage signature secret", &err, "receipts unavailable")
                .into_response()
        }
    };
    let now_ms = receipts.clock.now_ms();
    match vonage::verify(&secret, config.signature_method, &params, now_ms) {
        Ok(()) => {}
        Err(vonage::Refusal::Signature) => return refused("vonage", "signature"),
        Err(vonage::Refusal::Stale) => return refused("vonage", "stale"),
    }
    let ids = match callback_ids(query.as_deref().unwrap_or_default()) {
        Ok(ids) => ids,
        Err(_) => return refused("vonage", "ids"),
    };
    let report = match vonage::report(&params, &ids) {
        Ok(Some(report)) => report,
        Ok(None) => return StatusCode::NO_CONTENT.into_response(),
        Err(_) => return refused("vonage", "ids"),
    };
    match receipts
        .record(state.publisher.as_ref(), Channel::Sms, &ids, &report)
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => Problem::outage("receipt not recorded", &err, "try again").into_response(),
    }
}

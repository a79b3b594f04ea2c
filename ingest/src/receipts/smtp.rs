//! `POST /v1/receipts/smtp/dsn`: one bounce message (a DSN, RFC 3464) as the SMTP relay's
//! bounce mailbox received it, forwarded as the raw message (`Content-Type: message/rfc822`),
//! for example by a Postfix pipe transport running curl.
//!
//! Relays sign nothing, so the forwarder authenticates with a shared secret
//! (`Authorization: Bearer <secret>`, compared in constant time): 401 without one, 403 with a
//! wrong one, 404 while no secret is configured. A body over [`MAX_DSN_BYTES`] answers 413, one
//! that is not a DSN 400 with what is missing.
//!
//! A recipient report counts only where its `Final-Recipient` is the address the named
//! delivery went to (the notification log row's, compared [`normalize`]d): a DSN cannot
//! suppress an address the delivery did not go to. A final failure is recorded like a
//! provider's receipt (`bounced` on `notify.status`, the log row updated, and for a refused
//! address a tenant-scoped `bounced` suppression entry); a delay, a delivery or a relay
//! records nothing. A replayed DSN finds the row already in its state and reports nothing.
//! A DSN about a message that is not ours, or about a delivery the log does not know, is taken
//! (204) and ignored, so the bounce mailbox does not keep it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use notify_common::config::SecretConfig;
use notify_schemas::Channel;
use notify_store::suppressions::normalize;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::dsn::{self, Action};
use super::routes::configured;
use super::{CallbackIds, ProviderReport, Recorded};
use crate::problem::Problem;
use crate::state::AppState;

/// Largest DSN taken. A relay returning the whole original message (`RET=FULL`) of a large
/// email may exceed it; returning headers only is enough to correlate.
pub const MAX_DSN_BYTES: usize = 1024 * 1024;

/// The bounce mailbox's forwarding: the secret it authenticates with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SmtpReceipts {
    /// `dsn_secret` of `[dispatch.providers.smtp]` (re-read on every request, so a rotated
    /// secret takes effect).
    pub dsn_secret: SecretConfig,
}

impl SmtpReceipts {
    /// The DSN settings in `[dispatch.providers.smtp]`, if `dsn_secret` is set there.
    pub fn from_providers(providers: &toml::Table) -> Result<Option<Self>, String> {
        let Some(secret) = providers.get("smtp").and_then(|t| t.get("dsn_secret")) else {
            return Ok(None);
        };
        secret
            .clone()
            .try_into()
            .map(|dsn_secret| Some(Self { dsn_secret }))
            .map_err(|e| format!("dispatch.providers.smtp.dsn_secret: {e}"))
    }
}

/// Whether `presented` is `secret`, in time that depends on neither.
fn same_secret(presented: &str, secret: &str) -> bool {
    let (a, b) = (
        Sha256::digest(presented.as_bytes()),
        Sha256::digest(secret.as_bytes()),
    );
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// `POST /v1/receipts/smtp/dsn`; see the module docs.
pub async fn smtp_dsn(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some((receipts, config)) = configured(&state, |r| r.smtp.as_ref()) else {
        return Problem::not_found("route").into_response();
    };
    let secret = match config.dsn_secret.read() {
        Ok(secret) => secret,
        Err(err) => {
            return Problem::outage("smtp dsn secret", &err, "receipts unavailable").into_response()
        }
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        None => {
            crate::metrics::receipt_refused("smtp", "unauthenticated");
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "authentication required",
            )
                .into_response();
        }
        Some(token) if !same_secret(token.trim(), &secret) => {
            crate::metrics::receipt_refused("smtp", "signature");
            return (StatusCode::FORBIDDEN, "webhook refused").into_response();
        }
        Some(_) => {}
    }
    let rfc822 = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("message/rfc822")
        });
    if !rfc822 {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the bounce message as Content-Type: message/rfc822",
        )
            .into_response();
    }
    let report = match dsn::parse(&body) {
        Ok(report) => report,
        Err(err) => {
            crate::metrics::receipt_refused("smtp", "malformed");
            return Problem::bad_request(format!("dsn: {err}")).into_response();
        }
    };
    match record(&state, receipts, &report).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => Problem::outage("receipt not recorded", &err, "try again").into_response(),
    }
}

/// Records what `report` says about its delivery's recipient; see the module docs.
async fn record(
    state: &AppState,
    receipts: &super::Receipts,
    report: &dsn::Dsn,
) -> Result<(), super::RecordError> {
    let count = |action: Action, outcome: &'static str| {
        crate::metrics::dsn_recipient(action.as_str(), outcome);
    };
    let Some(delivery) = &report.delivery else {
        report
            .recipients
            .iter()
            .for_each(|r| count(r.action, "not_ours"));
        return Ok(());
    };
    let event_id = delivery.event_id.to_string();
    let delivery_id = delivery.delivery_id.to_string();
    let rows = receipts.log.entries(&delivery.tenant, &event_id).await?;
    let row = rows.into_iter().find(|row| {
        row.channel == Channel::Email.as_str() && row.delivery_id.as_deref() == Some(&delivery_id)
    });
    let Some(row) = row else {
        report
            .recipients
            .iter()
            .for_each(|r| count(r.action, "not_ours"));
        return Ok(());
    };
    let ids = CallbackIds {
        delivery_id: delivery.delivery_id,
        tenant: delivery.tenant.clone(),
        event_id: delivery.event_id,
        user_id: None,
        category: None,
        template_id: None,
    };
    let address = normalize(Channel::Email, &row.recipient);
    for recipient in &report.recipients {
        if normalize(Channel::Email, &recipient.final_recipient) != address {
            count(recipient.action, "other_recipient");
            continue;
        }
        let Some((receipt, reason, suppress)) = recipient.receipt() else {
            count(recipient.action, "not_final");
            continue;
        };
        let provider_report = ProviderReport {
            receipt,
            reason: Some(reason.to_owned()),
            provider: "smtp",
            provider_message_id: row.provider_message_id.clone(),
            recipient: row.recipient.clone(),
            suppress,
        };
        let recorded = receipts
            .record(
                state.publisher.as_ref(),
                Channel::Email,
                &ids,
                &provider_report,
            )
            .await?;
        let outcome = match recorded {
            Recorded::Reported => "recorded",
            Recorded::Replay => "replay",
        };
        count(recipient.action, outcome);
    }
    Ok(())
}

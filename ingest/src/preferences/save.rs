//! The two writes: one-click unsubscribe and saving the preference form.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use notify_common::preference_links::UnsubscribeClaims;
use notify_schemas::Receipt;
use notify_store::directory::{Preference, User};
use notify_store::DirectoryError;

use super::{form, html, open, rows, show, Text, Unsubscribing};
use crate::receipts::{CallbackIds, ProviderReport};
use crate::state::AppState;

/// The `provider` of an `unsubscribed` status: the recipient's own one-click.
pub const ONE_CLICK: &str = "list-unsubscribe";

/// `POST /u/{token}`: RFC 8058 one-click unsubscribe (the body, `List-Unsubscribe=One-Click`,
/// is not required: the token alone authorises). Idempotent; never redirects.
pub async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (prefs, claims, unsubscribing) = match Unsubscribing::open(&state, &headers, &token).await {
        Ok(opened) => opened,
        Err(refused) => return *refused,
    };
    let Unsubscribing {
        user,
        text,
        category,
        name,
    } = unsubscribing;
    let (tenant, user_id) = (&claims.page.tenant, &claims.page.user_id);
    let directory = &state.directory;
    let channel_name = text.channel(claims.channel);
    if category.as_ref().is_some_and(|c| c.critical) {
        crate::metrics::preference_link("unsubscribe", "critical");
        let message = html::fill(text.critical_refused, &name, channel_name);
        return prefs.message(StatusCode::CONFLICT, text, &message, &claims.page);
    }
    let off = Preference {
        category: claims.category.clone(),
        channel: claims.channel,
        enabled: false,
    };
    match directory.put_preferences(tenant, user_id, &[off]).await {
        Ok(()) => {}
        Err(DirectoryError::NotFound { .. }) => {
            crate::metrics::preference_link("unsubscribe", "gone");
            let page = html::message_page(text, text.error_title, &html::escape(text.gone), None);
            return prefs.respond(StatusCode::GONE, page);
        }
        Err(err) => return prefs.outage("unsubscribe", text, &err),
    }
    report(&state, &claims, user.as_ref()).await;
    crate::metrics::preference_link("unsubscribe", "unsubscribed");
    let message = html::fill(text.unsubscribed, &name, channel_name);
    prefs.message(StatusCode::OK, text, &message, &claims.page)
}

/// Reports the `unsubscribed` receipt of the delivery the link came with, if the token names
/// it. The opt-out is already stored, so a failure here is logged, not answered: the client
/// would not retry, and the preference is what the user asked for.
async fn report(state: &AppState, claims: &UnsubscribeClaims, user: Option<&User>) {
    let (Some(receipts), Some(delivery_id), Some(event_id)) =
        (&state.receipts, claims.delivery_id, claims.event_id)
    else {
        return;
    };
    // the log row is keyed by the address the delivery went to: the user's, unless changed since
    let recipient = match claims.channel {
        notify_schemas::Channel::Sms => user.and_then(|u| u.phone.clone()),
        _ => user.and_then(|u| u.email.clone()),
    };
    let Some(recipient) = recipient else {
        return;
    };
    let ids = CallbackIds {
        delivery_id,
        tenant: claims.page.tenant.clone(),
        event_id,
        user_id: Some(claims.page.user_id.clone()),
        category: Some(claims.category.clone()),
        template_id: None,
    };
    let report = ProviderReport {
        receipt: Receipt::Unsubscribed,
        reason: None,
        suppress: None,
        provider: ONE_CLICK,
        provider_message_id: None,
        recipient,
    };
    let recorded = receipts
        .record(state.publisher.as_ref(), claims.channel, &ids, &report)
        .await;
    if let Err(err) = recorded {
        tracing::warn!(error = %err, "unsubscribed receipt not reported");
    }
}

/// `POST /p/{token}`: stores the form. Each non-critical category x channel the page shows is
/// on exactly when its box is ticked; only rows that change are written, and a critical
/// category or one the page does not show is never written, whatever the form holds.
pub async fn save(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let opened = open(&state, &headers, "page", |links, now| {
        links.verify_page(&token, now)
    });
    let (prefs, claims) = match opened {
        Ok(opened) => opened,
        Err(refused) => return *refused,
    };
    let ticked: BTreeSet<String> = form(&body)
        .into_iter()
        .filter(|(name, _)| name == "on")
        .map(|(_, value)| value)
        .collect();
    let shown = match rows(&state, &claims).await {
        Ok(rows) => rows,
        Err(err) => return prefs.outage("page", Text::pick(&[None]), &err),
    };
    let changes: Vec<Preference> = shown
        .iter()
        .filter(|row| !row.critical)
        .flat_map(|row| {
            html::CHANNELS
                .into_iter()
                .zip(row.enabled)
                .map(move |(channel, was)| (row, channel, was))
        })
        .filter_map(|(row, channel, was)| {
            let on = ticked.contains(&html::field(&row.id, channel));
            (on != was).then(|| Preference {
                category: row.id.clone(),
                channel,
                enabled: on,
            })
        })
        .collect();
    if !changes.is_empty() {
        let written = state
            .directory
            .put_preferences(&claims.tenant, &claims.user_id, &changes)
            .await;
        match written {
            Ok(()) => {}
            // the user is gone: the page says so
            Err(DirectoryError::NotFound { .. }) => {}
            Err(err) => return prefs.outage("page", Text::pick(&[None]), &err),
        }
    }
    show(&state, prefs, &claims, &token, true).await
}

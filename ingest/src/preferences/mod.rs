//! Unsubscribe links and the preference page, served to message recipients (no tenant
//! credentials): `POST /u/{token}` is RFC 8058 one-click unsubscribe, `GET /u/{token}` the page
//! a person sees when following the same link, `GET`/`POST /p/{token}` the preference page.
//!
//! Guarantees:
//! - the token in the path is the only authority (no cookies, so no cross-site request can act
//!   with a victim's session); a token that does not verify for its purpose ([`PreferenceLinks`])
//!   gets an error page and changes nothing;
//! - changes go through the directory's preferences, the rows the router reads: a category
//!   turned off on a channel is suppressed `opted_out` from the next request on (after the
//!   router's directory cache expires);
//! - a critical category is never turned off here, whatever the form says;
//! - one-click is idempotent and answers without redirects; when its token names the delivery
//!   it came with, an `unsubscribed` receipt is reported on `notify.status` once (a repeat is a
//!   replay of the log row's state, see [`crate::receipts::Receipts::record`]).
//!
//! Not guaranteed: the page's language beyond English and Korean (the others read English).

mod html;
mod save;
mod text;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use notify_common::clock::Clock;
use notify_common::links::LinkError;
use notify_common::preference_links::{PageClaims, PreferenceLinks, UnsubscribeClaims};
use notify_store::directory::{Category, User};
use notify_store::settings::SettingsStore;
use notify_store::DirectoryError;

use crate::state::AppState;
use text::Text;

/// Largest form accepted; the preference form of a tenant with many categories fits easily.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// Categories shown on the page at most.
const MAX_CATEGORIES: usize = 500;

/// What the pages need besides the directory.
pub struct Preferences {
    /// Makes and checks the links.
    pub links: PreferenceLinks,
    /// Tenant settings, for the tenant's default locale (the router's default when `None`).
    pub settings: Option<Arc<dyn SettingsStore>>,
    /// The locale used when neither the message, the user nor the tenant names one.
    pub default_locale: String,
    /// The one clock.
    pub clock: Arc<dyn Clock>,
    csp: HeaderValue,
}

impl std::fmt::Debug for Preferences {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preferences")
            .field("links", &self.links)
            .field("default_locale", &self.default_locale)
            .finish_non_exhaustive()
    }
}

impl Preferences {
    /// The pages around `links`.
    pub fn new(links: PreferenceLinks, default_locale: &str, clock: Arc<dyn Clock>) -> Self {
        Self {
            links,
            settings: None,
            default_locale: default_locale.to_owned(),
            clock,
            csp: HeaderValue::from_str(&html::content_security_policy())
                .expect("the policy is ascii"),
        }
    }

    fn now_s(&self) -> i64 {
        self.clock.now_ms().div_euclid(1000)
    }

    fn respond(&self, status: StatusCode, page: String) -> Response {
        html::respond(status, page, &self.csp)
    }

    /// The page language for `claims`' user: the message's locale, the user's, the tenant's
    /// default, the configured default (the template fallback).
    async fn text(&self, claims: &PageClaims, user: Option<&User>) -> &'static Text {
        let tenant_default = match &self.settings {
            Some(settings) => settings
                .settings(&claims.tenant)
                .await
                .ok()
                .flatten()
                .and_then(|s| s.default_locale),
            None => None,
        };
        Text::pick(&[
            claims.locale.as_deref(),
            user.and_then(|u| u.locale.as_deref()),
            tenant_default.as_deref(),
            Some(&self.default_locale),
        ])
    }

    /// The error page for a refused token, in the language the browser asks for first.
    fn refused(&self, headers: &HeaderMap, route: &'static str, err: &LinkError) -> Response {
        crate::metrics::preference_link(route, err.kind());
        let text = Text::pick(&[accept_language(headers), Some(&self.default_locale)]);
        let (status, message) = match err {
            LinkError::Expired => (StatusCode::GONE, text.expired_link),
            LinkError::Malformed => (StatusCode::BAD_REQUEST, text.invalid_link),
            _ => (StatusCode::FORBIDDEN, text.invalid_link),
        };
        let page = html::message_page(text, text.error_title, &html::escape(message), None);
        self.respond(status, page)
    }

    /// A page with one message about `text`, and the link to the preference page.
    fn message(
        &self,
        status: StatusCode,
        text: &Text,
        message: &str,
        claims: &PageClaims,
    ) -> Response {
        let manage = self.links.page_url(claims, self.now_s());
        let title = if status.is_success() {
            text.page_title
        } else {
            text.error_title
        };
        self.respond(
            status,
            html::message_page(text, title, message, Some(&manage)),
        )
    }

    /// 503 in `text` for a store that did not answer.
    fn outage(&self, route: &'static str, text: &Text, err: &dyn std::fmt::Display) -> Response {
        tracing::warn!(route, error = %err, "preference link not served");
        crate::metrics::preference_link(route, "unavailable");
        let page = html::message_page(
            text,
            text.error_title,
            &html::escape(text.unavailable),
            None,
        );
        let mut response = self.respond(StatusCode::SERVICE_UNAVAILABLE, page);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        response
    }
}

/// The language tag a browser asks for first, if any.
fn accept_language(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
    let first = value.split(',').next()?.split(';').next()?.trim();
    (!first.is_empty() && first != "*").then_some(first)
}

/// The routes, answering 404 while links are off.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/u/{token}", get(unsubscribe_page).post(save::unsubscribe))
        .route("/p/{token}", get(page).post(save::save))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
}

/// 404 while links are off.
fn not_found() -> Response {
    let mut response = Response::new(axum::body::Body::from("not found"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// How every link route starts: 404 while links are off; then the token, checked by `verify`
/// for its purpose, or the refusal page (boxed: a response is large beside the claims).
fn open<'s, C>(
    state: &'s AppState,
    headers: &HeaderMap,
    route: &'static str,
    verify: impl FnOnce(&PreferenceLinks, i64) -> Result<C, LinkError>,
) -> Result<(&'s Preferences, C), Box<Response>> {
    let Some(prefs) = state.preferences.as_deref() else {
        return Err(Box::new(not_found()));
    };
    match verify(&prefs.links, prefs.now_s()) {
        Ok(claims) => Ok((prefs, claims)),
        Err(err) => Err(Box::new(prefs.refused(headers, route, &err))),
    }
}

/// What both unsubscribe routes show: the user (if still there), the page language, the
/// category (if still there) and its display name; or the outage page.
struct Unsubscribing {
    user: Option<User>,
    text: &'static Text,
    category: Option<Category>,
    name: String,
}

impl Unsubscribing {
    /// Checks an unsubscribe link's token, then reads what the page shows.
    async fn open<'s>(
        state: &'s AppState,
        headers: &HeaderMap,
        token: &str,
    ) -> Result<(&'s Preferences, UnsubscribeClaims, Self), Box<Response>> {
        let (prefs, claims) = open(state, headers, "unsubscribe", |links, now| {
            links.verify_unsubscribe(token, now)
        })?;
        let read = Self::read(state, prefs, &claims).await?;
        Ok((prefs, claims, read))
    }

    async fn read(
        state: &AppState,
        prefs: &Preferences,
        claims: &UnsubscribeClaims,
    ) -> Result<Self, Box<Response>> {
        let (tenant, user_id) = (&claims.page.tenant, &claims.page.user_id);
        let user = match state.directory.get_user(tenant, user_id).await {
            Ok(user) => user,
            Err(err) => {
                let page = prefs.outage("unsubscribe", Text::pick(&[None]), &err);
                return Err(Box::new(page));
            }
        };
        let text = prefs.text(&claims.page, user.as_ref()).await;
        let category = match state.directory.get_category(tenant, &claims.category).await {
            Ok(category) => category,
            Err(err) => return Err(Box::new(prefs.outage("unsubscribe", text, &err))),
        };
        let name = display_name(category.as_ref(), &claims.category);
        Ok(Self {
            user,
            text,
            category,
            name,
        })
    }
}

/// `GET /u/{token}`: asks before unsubscribing (a link scanner following it changes nothing).
async fn unsubscribe_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (prefs, claims, Unsubscribing { text, name, .. }) =
        match Unsubscribing::open(&state, &headers, &token).await {
            Ok(opened) => opened,
            Err(refused) => return *refused,
        };
    let manage = prefs.links.page_url(&claims.page, prefs.now_s());
    let page = html::unsubscribe_page(text, &format!("/u/{token}"), &name, claims.channel, &manage);
    crate::metrics::preference_link("unsubscribe", "shown");
    prefs.respond(StatusCode::OK, page)
}

/// `GET /p/{token}`: the preference page.
async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    match open(&state, &headers, "page", |links, now| {
        links.verify_page(&token, now)
    }) {
        Ok((prefs, claims)) => show(&state, prefs, &claims, &token, false).await,
        Err(refused) => *refused,
    }
}

/// The preference page of `claims`' user as stored now; `saved` adds the confirmation.
async fn show(
    state: &AppState,
    prefs: &Preferences,
    claims: &PageClaims,
    token: &str,
    saved: bool,
) -> Response {
    let user = match state
        .directory
        .get_user(&claims.tenant, &claims.user_id)
        .await
    {
        Ok(user) => user,
        Err(err) => return prefs.outage("page", Text::pick(&[None]), &err),
    };
    let text = prefs.text(claims, user.as_ref()).await;
    if user.is_none() {
        crate::metrics::preference_link("page", "gone");
        let page = html::message_page(text, text.error_title, &html::escape(text.gone), None);
        return prefs.respond(StatusCode::GONE, page);
    }
    match rows(state, claims).await {
        Ok(rows) => {
            crate::metrics::preference_link("page", if saved { "saved" } else { "shown" });
            let page = html::preference_page(text, &format!("/p/{token}"), &rows, saved);
            prefs.respond(StatusCode::OK, page)
        }
        Err(err) => prefs.outage("page", text, &err),
    }
}

/// The tenant's categories (and any the user has a preference for), with the user's choices.
async fn rows(state: &AppState, claims: &PageClaims) -> Result<Vec<html::Row>, DirectoryError> {
    let directory = &state.directory;
    let mut categories: Vec<Category> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = directory
            .list_categories(&claims.tenant, cursor.as_deref(), 100)
            .await?;
        categories.extend(page.items);
        cursor = page.next;
        if cursor.is_none() || categories.len() >= MAX_CATEGORIES {
            break;
        }
    }
    let stored = directory
        .get_preferences(&claims.tenant, &claims.user_id)
        .await?;
    let mut rows: Vec<html::Row> = categories
        .iter()
        .map(|c| html::Row {
            id: c.category_id.clone(),
            name: display_name(Some(c), &c.category_id),
            critical: c.critical,
            enabled: [true; 5],
        })
        .collect();
    for preference in &stored {
        let i = match rows.iter().position(|r| r.id == preference.category) {
            Some(i) => i,
            None => {
                rows.push(html::Row {
                    id: preference.category.clone(),
                    name: preference.category.clone(),
                    critical: false,
                    enabled: [true; 5],
                });
                rows.len() - 1
            }
        };
        if let Some(j) = html::CHANNELS.iter().position(|&c| c == preference.channel) {
            rows[i].enabled[j] = preference.enabled;
        }
    }
    Ok(rows)
}

/// What the user reads for a category: its description, else its id.
fn display_name(category: Option<&Category>, id: &str) -> String {
    category
        .and_then(|c| c.description.clone())
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| id.to_owned())
}

/// The request body as form fields (`application/x-www-form-urlencoded`).
fn form(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

//! Tracked links: the signed click and open-pixel URLs a message carries, and what the gateway
//! reads back from them.
//!
//! A tracked link is `<public_base_url>/t/c/<token>` (a click) or `/t/o/<token>` (the open
//! pixel); the token is a [`LinkKeys`] token whose claims name the delivery (tenant, event,
//! delivery, user, category, channel, template) and, for a click, the destination. The claims
//! are signed, not encrypted: they hold ids, never the recipient's address.
//!
//! Guarantees: the destination of a click comes only from a verified token, and only an
//! `http` or `https` URL is signed or followed, so a tracked link cannot be turned into an open
//! redirect; a token works for one purpose and until `links.tracking_ttl_s` after it was made.

use notify_schemas::{Channel, Delivery, Uuid};
use serde::{Deserialize, Serialize};

use crate::config::links::LinksConfig;
use crate::links::{LinkError, LinkKeys, Purpose};

/// The path prefix of tracked clicks.
pub const CLICK_PATH: &str = "/t/c/";
/// The path prefix of the open pixel.
pub const OPEN_PATH: &str = "/t/o/";

/// The delivery a tracked link belongs to: what its click or open is reported with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedDelivery {
    /// Tenant of the delivery.
    #[serde(rename = "t")]
    pub tenant: String,
    /// Event the delivery belongs to.
    #[serde(rename = "e")]
    pub event_id: Uuid,
    /// The delivery.
    #[serde(rename = "d")]
    pub delivery_id: Uuid,
    /// Recipient user.
    #[serde(rename = "u")]
    pub user_id: String,
    /// Category of the notification.
    #[serde(rename = "k")]
    pub category: String,
    /// Channel the delivery went out on.
    #[serde(rename = "c")]
    pub channel: Channel,
    /// Template the content was rendered from, if any.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
}

impl From<&Delivery> for TrackedDelivery {
    fn from(delivery: &Delivery) -> Self {
        Self {
            tenant: delivery.tenant.clone(),
            event_id: delivery.event_id,
            delivery_id: delivery.delivery_id,
            user_id: delivery.user_id.clone(),
            category: delivery.category.clone(),
            channel: delivery.channel,
            template_id: delivery.template_id.clone(),
        }
    }
}

/// A token's claims: the delivery, and for a click its destination.
#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(flatten)]
    delivery: TrackedDelivery,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

/// Why a tracked link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackError {
    /// The token did not verify (forged, tampered, expired, wrong purpose, malformed).
    #[error("{0}")]
    Token(#[from] LinkError),
    /// Signed, but its claims cannot be read.
    #[error("unreadable claims")]
    Claims,
    /// A click whose destination is missing or not http(s).
    #[error("destination is not an http(s) URL")]
    Destination,
}

impl TrackError {
    /// A short machine-readable name, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            TrackError::Token(err) => err.kind(),
            TrackError::Claims => "claims",
            TrackError::Destination => "destination",
        }
    }
}

/// Makes and reads tracked links.
#[derive(Debug, Clone)]
pub struct Tracker {
    keys: LinkKeys,
    base: String,
    ttl_s: i64,
}

impl Tracker {
    /// A tracker signing with `keys` for links under `public_base_url`, each valid `ttl_s`.
    pub fn new(keys: LinkKeys, public_base_url: &str, ttl_s: u64) -> Self {
        Self {
            keys,
            base: public_base_url.trim_end_matches('/').to_owned(),
            ttl_s: i64::try_from(ttl_s).unwrap_or(i64::MAX),
        }
    }

    /// The tracker of `[links]`, or `None` while links are off.
    pub fn from_config(config: &LinksConfig) -> Result<Option<Self>, LinkError> {
        let Some(keys) = LinkKeys::from_config(config)? else {
            return Ok(None);
        };
        let base = config.public_base_url.as_deref().unwrap_or_default();
        Ok(Some(Self::new(keys, base, config.tracking_ttl_s)))
    }

    /// The tracked link to `url` for `delivery`, made at `now_ms`; `None` for a URL that is not
    /// http(s) (mailto:, tel:, a relative link) or already points at the gateway (a tracked
    /// link, an unsubscribe or preference-page link: those are not clicks to measure).
    pub fn click_url(&self, delivery: &TrackedDelivery, url: &str, now_ms: i64) -> Option<String> {
        if !is_web_url(url) || self.is_gateway_link(url) {
            return None;
        }
        let token = self.token(Purpose::Click, delivery, Some(url), now_ms);
        Some(format!("{}{CLICK_PATH}{token}", self.base))
    }

    /// The open pixel's URL for `delivery`, made at `now_ms`.
    pub fn open_url(&self, delivery: &TrackedDelivery, now_ms: i64) -> String {
        let token = self.token(Purpose::Open, delivery, None, now_ms);
        format!("{}{OPEN_PATH}{token}", self.base)
    }

    /// Whether `url` is a link back to this gateway (`<public_base_url>/...`).
    pub fn is_gateway_link(&self, url: &str) -> bool {
        url.strip_prefix(self.base.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The delivery and destination of a click token, checked at `now_s` (Unix seconds).
    pub fn verify_click(
        &self,
        token: &str,
        now_s: i64,
    ) -> Result<(TrackedDelivery, String), TrackError> {
        let claims = self.claims(Purpose::Click, token, now_s)?;
        match claims.url {
            Some(url) if is_web_url(&url) => Ok((claims.delivery, url)),
            _ => Err(TrackError::Destination),
        }
    }

    /// The delivery of an open-pixel token, checked at `now_s` (Unix seconds).
    pub fn verify_open(&self, token: &str, now_s: i64) -> Result<TrackedDelivery, TrackError> {
        Ok(self.claims(Purpose::Open, token, now_s)?.delivery)
    }

    fn token(
        &self,
        purpose: Purpose,
        delivery: &TrackedDelivery,
        url: Option<&str>,
        now_ms: i64,
    ) -> String {
        let claims = Claims {
            delivery: delivery.clone(),
            url: url.map(str::to_owned),
        };
        let claims = serde_json::to_vec(&claims).expect("claims serialize");
        let expires_at_s = (now_ms / 1_000).saturating_add(self.ttl_s);
        self.keys.sign(purpose, &claims, expires_at_s)
    }

    fn claims(&self, purpose: Purpose, token: &str, now_s: i64) -> Result<Claims, TrackError> {
        let claims = self.keys.verify(purpose, token, now_s)?;
        serde_json::from_slice(&claims).map_err(|_| TrackError::Claims)
    }
}

/// Whether `url` is an absolute http or https URL with a host, and nothing a browser would read
/// differently (no whitespace or control characters, no backslash).
pub fn is_web_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return false;
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    host_end > 0
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
}

#[cfg(test)]
#[path = "tracking_tests.rs"]
mod tests;

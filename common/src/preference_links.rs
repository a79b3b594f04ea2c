//! The links a user follows to leave a category or to change their preferences: one-click
//! unsubscribe (`<public_base_url>/u/<token>`) and the preference page
//! (`<public_base_url>/p/<token>`), signed with the `[links]` keys.
//!
//! Guarantees: a link carries only ids (tenant, user, category, channel, delivery, event; the
//! locale the message was written in), never an address; it verifies only for its own purpose
//! ([`Purpose::Unsubscribe`] or [`Purpose::Preferences`]) and within `preferences_ttl_s` of
//! its making. Not guaranteed: that a link is used once (an unsubscribe is idempotent, the
//! page may be opened again until the link expires).

use notify_schemas::Channel;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::links::LinksConfig;
use crate::links::{LinkError, LinkKeys, Purpose};

/// Who a preference-page link is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageClaims {
    /// Tenant.
    #[serde(rename = "t")]
    pub tenant: String,
    /// User within the tenant.
    #[serde(rename = "u")]
    pub user_id: String,
    /// Locale of the message that carried the link, tried first for the page's language.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// What a one-click unsubscribe link opts out of, and the delivery it came with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsubscribeClaims {
    /// The user and the page language.
    #[serde(flatten)]
    pub page: PageClaims,
    /// Category to leave.
    #[serde(rename = "c")]
    pub category: String,
    /// Channel to leave it on.
    #[serde(rename = "ch", with = "channel_name")]
    pub channel: Channel,
    /// The delivery that carried the link, for the `unsubscribed` status.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<Uuid>,
    /// Its event.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
}

mod channel_name {
    use notify_schemas::Channel;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(channel: &Channel, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(channel.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Channel, D::Error> {
        let name = String::deserialize(d)?;
        Channel::parse(&name).ok_or_else(|| serde::de::Error::custom("unknown channel"))
    }
}

/// Makes and checks unsubscribe and preference-page links.
#[derive(Debug, Clone)]
pub struct PreferenceLinks {
    base_url: String,
    keys: LinkKeys,
    ttl_s: i64,
}

impl PreferenceLinks {
    /// Links under `base_url` (no trailing slash), valid for `ttl_s` after they are made.
    pub fn new(base_url: &str, keys: LinkKeys, ttl_s: u64) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            keys,
            ttl_s: i64::try_from(ttl_s).unwrap_or(i64::MAX),
        }
    }

    /// The configured links, or `None` while links are off (no `public_base_url`).
    pub fn from_config(config: &LinksConfig) -> Result<Option<Self>, LinkError> {
        let (Some(base), Some(keys)) = (&config.public_base_url, LinkKeys::from_config(config)?)
        else {
            return Ok(None);
        };
        Ok(Some(Self::new(base, keys, config.preferences_ttl_s)))
    }

    /// `<base>/p/<token>`: the preference page of `claims`' user, made at `now_s`.
    pub fn page_url(&self, claims: &PageClaims, now_s: i64) -> String {
        let token = self.sign(Purpose::Preferences, claims, now_s);
        format!("{}/p/{token}", self.base_url)
    }

    /// `<base>/u/<token>`: one-click unsubscribe from `claims`' category and channel.
    pub fn unsubscribe_url(&self, claims: &UnsubscribeClaims, now_s: i64) -> String {
        let token = self.sign(Purpose::Unsubscribe, claims, now_s);
        format!("{}/u/{token}", self.base_url)
    }

    /// The claims of a preference-page token, if it verifies at `now_s`.
    pub fn verify_page(&self, token: &str, now_s: i64) -> Result<PageClaims, LinkError> {
        self.verify(Purpose::Preferences, token, now_s)
    }

    /// The claims of an unsubscribe token, if it verifies at `now_s`.
    pub fn verify_unsubscribe(
        &self,
        token: &str,
        now_s: i64,
    ) -> Result<UnsubscribeClaims, LinkError> {
        self.verify(Purpose::Unsubscribe, token, now_s)
    }

    fn sign<T: Serialize>(&self, purpose: Purpose, claims: &T, now_s: i64) -> String {
        let body = serde_json::to_vec(claims).expect("claims of strings serialize");
        self.keys
            .sign(purpose, &body, now_s.saturating_add(self.ttl_s))
    }

    fn verify<T: for<'de> Deserialize<'de>>(
        &self,
        purpose: Purpose,
        token: &str,
        now_s: i64,
    ) -> Result<T, LinkError> {
        let body = self.keys.verify(purpose, token, now_s)?;
        // signed by us, so unreadable claims are a bug or an old format: refuse, never guess
        serde_json::from_slice(&body).map_err(|_| LinkError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> PreferenceLinks {
        let keys = LinkKeys::new(&[b"a preference link key of 32 byte"]).unwrap();
        PreferenceLinks::new("https://n.example/", keys, 100)
    }

    fn token(url: &str) -> &str {
        url.rsplit('/').next().unwrap()
    }

    #[test]
    fn links_carry_their_claims_for_their_purpose_only() {
        let links = links();
        let page = PageClaims {
            tenant: "tn_1".into(),
            user_id: "u-1".into(),
            locale: Some("ko-KR".into()),
        };
        let unsubscribe = UnsubscribeClaims {
            page: page.clone(),
            category: "news".into(),
            channel: Channel::Email,
            delivery_id: Some(Uuid::nil()),
            event_id: None,
        };
        let page_url = links.page_url(&page, 1_000);
        let unsubscribe_url = links.unsubscribe_url(&unsubscribe, 1_000);
        assert!(page_url.starts_with("https://n.example/p/"), "{page_url}");
        assert!(unsubscribe_url.starts_with("https://n.example/u/"));
        assert_eq!(links.verify_page(token(&page_url), 1_099), Ok(page));
        assert_eq!(
            links.verify_unsubscribe(token(&unsubscribe_url), 1_050),
            Ok(unsubscribe)
        );
        assert_eq!(
            links.verify_page(token(&page_url), 1_100),
            Err(LinkError::Expired)
        );
        assert_eq!(
            links.verify_page(token(&unsubscribe_url), 1_001),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            links.verify_unsubscribe(token(&page_url), 1_001),
            Err(LinkError::BadSignature)
        );
    }
}

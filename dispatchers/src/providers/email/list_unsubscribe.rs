//! RFC 2369 `List-Unsubscribe` and RFC 8058 one-click `List-Unsubscribe-Post` headers for every
//! email, while `[links]` is configured: the URL is the gateway's `POST /u/{token}`, which
//! opts the user out of the delivery's category on email.
//!
//! Guarantees: the token carries the tenant, user, category, channel, delivery and event ids
//! and the message's locale, never the address; it works for `links.preferences_ttl_s` from
//! the send. A delivery of `critical` priority carries no header: a critical message (security
//! code, fraud alert) is one the user cannot turn off, so a mail client must not offer a
//! button that would not work. Not checked here: that `public_base_url` is https, which RFC
//! 8058 requires of the header's URL (the operator docs say so; tests use loopback http).

use std::sync::Arc;

use notify_common::clock::{Clock, SystemClock};
use notify_common::config::LinksConfig;
use notify_common::links::LinkError;
use notify_common::preference_links::{PageClaims, PreferenceLinks, UnsubscribeClaims};
use notify_schemas::{Delivery, Priority};

/// The header naming the unsubscribe URL.
pub const LIST_UNSUBSCRIBE: &str = "List-Unsubscribe";
/// The header announcing one-click (RFC 8058).
pub const LIST_UNSUBSCRIBE_POST: &str = "List-Unsubscribe-Post";
/// Its only value.
pub const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// Makes the unsubscribe headers of an email.
#[derive(Debug)]
pub struct ListUnsubscribe {
    links: PreferenceLinks,
    clock: Arc<dyn Clock>,
}

impl ListUnsubscribe {
    /// Headers with links made by `links` at `clock`'s time.
    pub fn new(links: PreferenceLinks, clock: Arc<dyn Clock>) -> Self {
        Self { links, clock }
    }

    /// The configured headers, or `None` while links are off.
    pub fn from_config(config: &LinksConfig) -> Result<Option<Arc<Self>>, LinkError> {
        Ok(PreferenceLinks::from_config(config)?
            .map(|links| Arc::new(Self::new(links, Arc::new(SystemClock)))))
    }

    /// `(name, value)` of both headers for `delivery`, or `None` for a critical one.
    pub fn headers(&self, delivery: &Delivery) -> Option<[(&'static str, String); 2]> {
        if delivery.priority == Priority::Critical {
            return None;
        }
        let claims = UnsubscribeClaims {
            page: PageClaims {
                tenant: delivery.tenant.clone(),
                user_id: delivery.user_id.clone(),
                locale: delivery.locale.clone(),
            },
            category: delivery.category.clone(),
            channel: delivery.channel,
            delivery_id: Some(delivery.delivery_id),
            event_id: Some(delivery.event_id),
        };
        let url = self
            .links
            .unsubscribe_url(&claims, self.clock.now_ms().div_euclid(1000));
        Some([
            (LIST_UNSUBSCRIBE, format!("<{url}>")),
            (LIST_UNSUBSCRIBE_POST, ONE_CLICK.to_owned()),
        ])
    }
}

/// The headers of `delivery` from `list_unsubscribe`, if configured; empty otherwise.
pub fn headers_for(
    list_unsubscribe: Option<&ListUnsubscribe>,
    delivery: &Delivery,
) -> Vec<(&'static str, String)> {
    list_unsubscribe
        .and_then(|l| l.headers(delivery))
        .map(Vec::from)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use notify_common::clock::ManualClock;
    use notify_common::links::LinkKeys;
    use notify_schemas::samples::full_email_delivery;

    use super::*;

    fn headers() -> ListUnsubscribe {
        let keys = LinkKeys::new(&[b"the dispatcher's link key, 32 b!"]).unwrap();
        let links = PreferenceLinks::new("https://n.example", keys, 60);
        ListUnsubscribe::new(links, Arc::new(ManualClock::new(1_000_000)))
    }

    #[test]
    fn an_email_names_its_one_click_link_and_a_critical_one_none() {
        let list = headers();
        let mut delivery = full_email_delivery();
        delivery.priority = Priority::Normal;
        let [(name, value), post] = list.headers(&delivery).expect("headers");
        assert_eq!(name, LIST_UNSUBSCRIBE);
        let url = value
            .strip_prefix("<https://n.example/u/")
            .and_then(|v| v.strip_suffix('>'))
            .expect("<https url>");
        assert_eq!(post, (LIST_UNSUBSCRIBE_POST, ONE_CLICK.to_owned()));
        let keys = LinkKeys::new(&[b"the dispatcher's link key, 32 b!"]).unwrap();
        let claims = PreferenceLinks::new("https://n.example", keys, 60)
            .verify_unsubscribe(url, 1_000)
            .expect("verifies");
        assert_eq!(claims.category, delivery.category);
        assert_eq!(claims.delivery_id, Some(delivery.delivery_id));
        assert!(!value.contains('@'), "no address in the link");

        let (message, _) = super::super::smtp::message(&delivery, None, Some(&list)).unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <https://n.example/u/"),
            "{raw}"
        );
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));

        delivery.priority = Priority::Critical;
        assert!(list.headers(&delivery).is_none());
        assert!(headers_for(None, &delivery).is_empty());
    }
}

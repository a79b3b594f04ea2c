//! Open and click tracking on the way out: a [`Provider`] wrapper that hands the provider the
//! delivery with its links wrapped in signed click links (`<public_base_url>/t/c/<token>`) and,
//! for an HTML email, an open pixel (`/t/o/<token>`). On while `[links]` is configured.
//!
//! What is rewritten: an email's HTML `href`s and the bare URLs of its text body, plus the
//! pixel at the end of its HTML; a push's `click_url`. SMS is left alone (a link there costs
//! segments). The content on the delivery record is not changed, so a retry signs afresh.
//! A push whose data has [`OPT_OUT_KEY`] set to `"false"` is sent untracked.

pub mod rewrite;

use std::sync::Arc;

use async_trait::async_trait;
use notify_common::clock::{Clock, SystemClock};
use notify_common::config::LinksConfig;
use notify_common::links::LinkError;
use notify_common::tracking::{TrackedDelivery, Tracker};
use notify_schemas::{Delivery, RenderedContent};

use crate::providers::provider::{Outcome, Provider};

/// Push data key that turns tracking off for one message when set to `"false"`.
pub const OPT_OUT_KEY: &str = "notify_tracking";

/// `provider`, tracking opens and clicks when `links` is configured.
pub fn wrap(
    provider: Arc<dyn Provider>,
    links: &LinksConfig,
) -> Result<Arc<dyn Provider>, LinkError> {
    Ok(match Tracker::from_config(links)? {
        Some(tracker) => Arc::new(Tracked {
            inner: provider,
            tracker,
            clock: Arc::new(SystemClock),
        }),
        None => provider,
    })
}

/// A provider whose deliveries go out with tracked links.
#[derive(Debug)]
pub struct Tracked {
    /// The provider that sends.
    pub inner: Arc<dyn Provider>,
    /// Signs the links.
    pub tracker: Tracker,
    /// When links are made (their expiry counts from it).
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Provider for Tracked {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn send(&self, delivery: &Delivery) -> Outcome {
        self.send_named(delivery).await.0
    }

    async fn send_named(&self, delivery: &Delivery) -> (Outcome, &'static str) {
        match tracked(&self.tracker, delivery, self.clock.now_ms()) {
            Some(tracked) => self.inner.send_named(&tracked).await,
            None => self.inner.send_named(delivery).await,
        }
    }
}

/// `delivery` with tracked links, made at `now_ms`; `None` when there is nothing to track.
pub fn tracked(tracker: &Tracker, delivery: &Delivery, now_ms: i64) -> Option<Delivery> {
    let claims = TrackedDelivery::from(delivery);
    let wrap = |url: &str| tracker.click_url(&claims, url, now_ms);
    let content = match &delivery.content {
        RenderedContent::Email(email) => {
            let mut email = email.clone();
            email.html = email.html.as_deref().map(|html| {
                let html = rewrite::html_links(html, wrap);
                rewrite::with_pixel(&html, &tracker.open_url(&claims, now_ms))
            });
            email.text = email.text.as_deref().map(|t| rewrite::text_links(t, wrap));
            RenderedContent::Email(email)
        }
        RenderedContent::Push(push) => {
            if push.data.get(OPT_OUT_KEY).map(String::as_str) == Some("false") {
                return None;
            }
            let click_url = push.click_url.as_deref().and_then(wrap)?;
            let mut push = push.clone();
            push.click_url = Some(click_url);
            RenderedContent::Push(push)
        }
        RenderedContent::Sms(_) => return None,
    };
    Some(Delivery {
        content,
        ..delivery.clone()
    })
}

#[cfg(test)]
mod tests;

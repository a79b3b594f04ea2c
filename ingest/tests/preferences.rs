//! The unsubscribe and preference-page routes in process, against the in-memory directory, log
//! and publisher. Checked: one-click opts out once and reports `unsubscribed` once; the GET
//! only asks; refused links (tampered, forged, expired, wrong purpose) answer an error page
//! and change nothing; a critical category is never turned off, by one-click or by a forged
//! form; the form writes only what changed; every page carries the security headers.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use notify_common::clock::{Clock, ManualClock};
use notify_common::config::IngestConfig;
use notify_common::links::LinkKeys;
use notify_common::preference_links::{PageClaims, PreferenceLinks, UnsubscribeClaims};
use notify_ingest::preferences::Preferences;
use notify_ingest::receipts::Receipts;
use notify_schemas::{Channel, Codec, DeliveryStatus, Receipt};
use notify_store::directory::{Category, Preference, User};
use support::{harness, Harness};

const NOW_MS: i64 = 1_800_000_000_000;
const TTL_S: u64 = 3_600;

fn links(key: &[u8]) -> PreferenceLinks {
    PreferenceLinks::new("https://n.example", LinkKeys::new(&[key]).unwrap(), TTL_S)
}

fn ours() -> PreferenceLinks {
    links(b"the gateway's own link key, 32 b")
}

struct Gateway {
    h: Harness,
    clock: Arc<ManualClock>,
}

async fn gateway() -> Gateway {
    let mut h = harness(IngestConfig::default()).await;
    let clock = Arc::new(ManualClock::new(NOW_MS));
    h.state.preferences = Some(Arc::new(Preferences::new(ours(), "en", clock.clone())));
    h.state.receipts = Some(Arc::new(Receipts {
        clock: clock.clone(),
        ..support::receipts(&h)
    }));
    h.app = notify_ingest::routes::router(h.state.clone());
    let directory = &h.state.directory;
    let mut user = User::new("u-1");
    user.email = Some("jane@example.com".into());
    user.locale = Some("ko".into());
    directory.put_user(&h.tenant, &user).await.unwrap();
    for (id, critical) in [("news", false), ("security", true)] {
        let category = Category {
            category_id: id.into(),
            description: Some(format!("<{id}>")),
            critical,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        directory.put_category(&h.tenant, &category).await.unwrap();
    }
    Gateway { h, clock }
}

impl Gateway {
    fn page_claims(&self) -> PageClaims {
        PageClaims {
            tenant: self.h.tenant.clone(),
            user_id: "u-1".into(),
            locale: None,
        }
    }

    fn unsubscribe_url(&self, category: &str) -> String {
        let claims = UnsubscribeClaims {
            page: self.page_claims(),
            category: category.into(),
            channel: Channel::Email,
            delivery_id: Some(uuid::Uuid::from_u128(1)),
            event_id: Some(uuid::Uuid::from_u128(2)),
        };
        path(&ours().unsubscribe_url(&claims, self.clock.now_ms() / 1000))
    }

    fn page_url(&self) -> String {
        path(&ours().page_url(&self.page_claims(), self.clock.now_ms() / 1000))
    }

    async fn post(&self, uri: &str, body: &str) -> (StatusCode, String) {
        let request = Request::post(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = self.h.send(request).await;
        (
            response.0,
            String::from_utf8_lossy(&response.2).into_owned(),
        )
    }

    async fn preferences(&self) -> Vec<Preference> {
        let directory = &self.h.state.directory;
        directory
            .get_preferences(&self.h.tenant, "u-1")
            .await
            .unwrap()
    }

    fn unsubscribed(&self) -> usize {
        let codec = Codec::<DeliveryStatus>::new().unwrap();
        self.h
            .publisher
            .to_topic("notify.status")
            .iter()
            .map(|r| codec.decode(&r.payload).unwrap())
            .filter(|s| s.receipt == Some(Receipt::Unsubscribed))
            .count()
    }
}

fn path(url: &str) -> String {
    url.strip_prefix("https://n.example").unwrap().to_owned()
}

fn off(category: &str, channel: Channel) -> Preference {
    Preference {
        category: category.into(),
        channel,
        enabled: false,
    }
}

#[tokio::test]
async fn one_click_opts_out_once_and_the_get_only_asks() {
    let g = gateway().await;
    let url = g.unsubscribe_url("news");
    let request = Request::get(&url).body(Body::empty()).unwrap();
    let response = oneshot_headers(g.h.app.clone(), request).await;
    assert_eq!(response.0, StatusCode::OK);
    let headers = response.1;
    assert!(headers["content-security-policy"].contains("frame-ancestors 'none'"));
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(response.2.contains("<html lang=\"ko\">"), "{}", response.2);
    assert!(response.2.contains("value=\"One-Click\""));
    assert!(response.2.contains("&lt;news&gt;"), "tenant text escaped");
    assert!(g.preferences().await.is_empty(), "a GET changes nothing");

    for _ in 0..2 {
        let (status, page) = g.post(&url, "List-Unsubscribe=One-Click").await;
        assert_eq!(status, StatusCode::OK, "{page}");
    }
    assert_eq!(g.preferences().await, [off("news", Channel::Email)]);
    assert_eq!(
        g.unsubscribed(),
        1,
        "a repeated one-click reports nothing new"
    );
}

#[tokio::test]
async fn refused_links_answer_a_page_and_change_nothing() {
    let g = gateway().await;
    let good = g.unsubscribe_url("news");
    let token = good.rsplit('/').next().unwrap();
    let flip = if &token[14..15] == "x" { "y" } else { "x" };
    let tampered = format!("/u/{}{flip}{}", &token[..14], &token[15..]);
    let forged = path(&links(b"somebody else's key, of 32 bytes").unsubscribe_url(
        &UnsubscribeClaims {
            page: g.page_claims(),
            category: "news".into(),
            channel: Channel::Email,
            delivery_id: None,
            event_id: None,
        },
        NOW_MS / 1000,
    ));
    let wrong_purpose = g.page_url().replace("/p/", "/u/");
    for (uri, code) in [
        (tampered.as_str(), StatusCode::FORBIDDEN),
        (forged.as_str(), StatusCode::FORBIDDEN),
        (wrong_purpose.as_str(), StatusCode::FORBIDDEN),
        ("/u/not-a-token", StatusCode::BAD_REQUEST),
    ] {
        let (status, page) = g.post(uri, "List-Unsubscribe=One-Click").await;
        assert_eq!(status, code, "{uri}");
        assert!(page.contains("Nothing was changed"), "{page}");
    }
    g.clock.advance(i64::try_from(TTL_S).unwrap() * 1000);
    let (status, page) = g.post(&good, "List-Unsubscribe=One-Click").await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("expired"), "{page}");
    assert!(g.preferences().await.is_empty());
    assert_eq!(g.unsubscribed(), 0);
}

#[tokio::test]
async fn a_critical_category_stays_on_whatever_is_posted() {
    let g = gateway().await;
    let (status, _) = g
        .post(&g.unsubscribe_url("security"), "List-Unsubscribe=One-Click")
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(g.preferences().await.is_empty());

    // every box left unticked: news goes off everywhere, security is not written
    let (status, page) = g.post(&g.page_url(), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("role=\"status\""), "the save is confirmed");
    let stored = g.preferences().await;
    assert_eq!(stored.len(), 5, "{stored:?}");
    assert!(stored.iter().all(|p| p.category == "news" && !p.enabled));
    assert!(page.contains("value=\"security:email\" checked disabled"));

    // news back on for email only: one row changes, the rest stay as they were
    let (status, _) = g
        .post(&g.page_url(), "on=news%3Aemail&on=security%3Asms")
        .await;
    assert_eq!(status, StatusCode::OK);
    let stored = g.preferences().await;
    let on: Vec<_> = stored.iter().filter(|p| p.enabled).collect();
    assert_eq!(on.len(), 1, "{stored:?}");
    assert_eq!(
        (on[0].category.as_str(), on[0].channel),
        ("news", Channel::Email)
    );
    assert!(stored.iter().all(|p| p.category == "news"));
}

#[tokio::test]
async fn without_links_the_routes_are_not_there() {
    let mut g = gateway().await;
    g.h.state.preferences = None;
    g.h.app = notify_ingest::routes::router(g.h.state.clone());
    let (status, _) = g.post(&g.page_url(), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// One request's status, headers (lowercase names) and body text.
async fn oneshot_headers(
    app: axum::Router,
    request: Request<Body>,
) -> (
    StatusCode,
    std::collections::HashMap<String, String>,
    String,
) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

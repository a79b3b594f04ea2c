use super::*;

const KEY: &[u8; 32] = b"a tracking key of thirty-two b!!";
const NOW_MS: i64 = 1_700_000_000_000;

fn tracker() -> Tracker {
    Tracker::new(LinkKeys::new(&[KEY]).unwrap(), "https://n.example/", 60)
}

fn delivery() -> TrackedDelivery {
    TrackedDelivery::from(&notify_schemas::samples::full_email_delivery())
}

fn token_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

#[test]
fn a_click_carries_its_delivery_and_destination_until_it_expires() {
    let tracker = tracker();
    let url = tracker
        .click_url(&delivery(), "https://shop.example/o?id=1&x=\"2\"", NOW_MS)
        .unwrap();
    assert!(url.starts_with("https://n.example/t/c/"), "{url}");
    let now_s = NOW_MS / 1_000;
    let (claims, destination) = tracker.verify_click(token_of(&url), now_s).unwrap();
    assert_eq!(claims, delivery());
    assert_eq!(claims.template_id.as_deref(), Some("order_shipped_v2"));
    assert_eq!(destination, "https://shop.example/o?id=1&x=\"2\"");
    assert_eq!(
        tracker.verify_click(token_of(&url), now_s + 60),
        Err(TrackError::Token(LinkError::Expired))
    );
}

#[test]
fn the_claims_name_ids_never_the_address() {
    let url = tracker().open_url(&delivery(), NOW_MS);
    let body = token_of(&url).split('.').next().unwrap();
    let body =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, body).unwrap();
    let claims = String::from_utf8_lossy(&body[8..]);
    assert!(claims.contains("user-42"), "{claims}");
    assert!(!claims.contains('@'), "{claims}");
}

#[test]
fn a_token_works_only_for_its_own_route() {
    let tracker = tracker();
    let now_s = NOW_MS / 1_000;
    let open = tracker.open_url(&delivery(), NOW_MS);
    let click = tracker
        .click_url(&delivery(), "https://shop.example/", NOW_MS)
        .unwrap();
    assert_eq!(
        tracker.verify_click(token_of(&open), now_s),
        Err(TrackError::Token(LinkError::BadSignature))
    );
    assert_eq!(
        tracker.verify_open(token_of(&click), now_s),
        Err(TrackError::Token(LinkError::BadSignature))
    );
    assert_eq!(tracker.verify_open(token_of(&open), now_s), Ok(delivery()));
}

#[test]
fn only_web_urls_are_wrapped_or_followed() {
    let tracker = tracker();
    for url in [
        "mailto:a@example.com",
        "tel:+821012345678",
        "javascript:alert(1)",
        "data:text/html,hi",
        "/relative",
        "//evil.example/",
        "https://",
        "https:///path",
        "https://evil.example\\@good.example/",
        "https://a.example/ b",
    ] {
        assert!(!is_web_url(url), "{url}");
        assert_eq!(tracker.click_url(&delivery(), url, NOW_MS), None, "{url}");
    }
    assert!(is_web_url("HTTP://Shop.Example"));
    let wrapped = tracker
        .click_url(&delivery(), "https://shop.example/", NOW_MS)
        .unwrap();
    assert_eq!(tracker.click_url(&delivery(), &wrapped, NOW_MS), None);
    let pixel = tracker.open_url(&delivery(), NOW_MS);
    assert!(tracker.is_gateway_link(&pixel));
    assert!(tracker.is_gateway_link("https://n.example/p/some-token"));
    assert!(!tracker.is_gateway_link("https://n.example.evil.example/p/x"));
}

#[test]
fn a_signed_click_without_a_web_destination_is_refused() {
    let keys = LinkKeys::new(&[KEY]).unwrap();
    let tracker = Tracker::new(keys.clone(), "https://n.example", 60);
    let now_s = NOW_MS / 1_000;
    let signed = |claims: serde_json::Value| {
        keys.sign(Purpose::Click, claims.to_string().as_bytes(), now_s + 10)
    };
    let mut claims = serde_json::to_value(delivery()).unwrap();
    assert_eq!(
        tracker.verify_click(&signed(claims.clone()), now_s),
        Err(TrackError::Destination)
    );
    claims["l"] = "javascript:alert(1)".into();
    assert_eq!(
        tracker.verify_click(&signed(claims), now_s),
        Err(TrackError::Destination)
    );
    assert_eq!(
        tracker.verify_click(&signed(serde_json::json!({"t": 1})), now_s),
        Err(TrackError::Claims)
    );
}

//! HTTP Basic credentials and disabled apps.

use super::*;

#[tokio::test]
async fn basic_with_the_right_secret_authenticates_as_the_tenant() {
    let f = Fixture::new().await;
    let auth = f.auth();
    for app in [&f.plain, &f.hs, &f.es] {
        let tenant = auth
            .authenticate(&basic(&app.app_key, app.secret.expose()))
            .await
            .expect("authenticated");
        assert_eq!(tenant, f.principal(&app.app_key));
    }
    // The scheme name is case-insensitive.
    let value = format!(
        "bAsIc {}",
        STANDARD.encode(format!("{}:{}", f.plain.app_key, f.plain.secret.expose()))
    );
    assert_eq!(
        auth.authenticate(&headers(&value)).await.ok(),
        Some(f.principal(&f.plain.app_key))
    );
}

#[tokio::test]
async fn basic_with_a_wrong_secret_is_refused() {
    let f = Fixture::new().await;
    let auth = f.auth();
    let reason = rejection(&auth, &basic(&f.plain.app_key, f.hs.secret.expose())).await;
    assert_eq!(reason, Reject::WrongSecret);
    let almost = format!("{}x", f.plain.secret.expose());
    assert_eq!(
        rejection(&auth, &basic(&f.plain.app_key, &almost)).await,
        Reject::WrongSecret
    );
}

#[tokio::test]
async fn basic_with_an_unknown_key_is_refused_after_a_lookup() {
    let f = Fixture::new().await;
    let auth = f.auth();
    let before = f.lookups();
    let reason = rejection(&auth, &basic("ak_doesnotexist", f.plain.secret.expose())).await;
    assert_eq!(reason, Reject::UnknownApp);
    assert_eq!(f.lookups(), before + 1);
}

#[tokio::test]
async fn malformed_or_missing_headers_are_refused() {
    let f = Fixture::new().await;
    let auth = f.auth();
    assert_eq!(rejection(&auth, &HeaderMap::new()).await, Reject::Missing);
    for value in [
        "Basic",
        "Basic ",
        "Basic !!!not-base64!!!",
        &format!("Basic {}", STANDARD.encode("no-colon-here")),
        &format!("Digest {}", STANDARD.encode("a:b")),
        "Bearer",
        "Bearer not.a.jwt",
        "Bearer abc",
        &format!("Basic {}", "A".repeat(9000)),
    ] {
        assert!(
            matches!(
                rejection(&auth, &headers(value)).await,
                Reject::Malformed | Reject::MalformedToken
            ),
            "{value}"
        );
    }
    let mut twice = basic(&f.plain.app_key, f.plain.secret.expose());
    twice.append(AUTHORIZATION, HeaderValue::from_static("Bearer x.y.z"));
    assert_eq!(rejection(&auth, &twice).await, Reject::Malformed);
    let mut binary = HeaderMap::new();
    binary.insert(
        AUTHORIZATION,
        HeaderValue::from_bytes(b"Basic \xff\xfe").expect("opaque bytes"),
    );
    assert_eq!(rejection(&auth, &binary).await, Reject::Malformed);
}

#[tokio::test]
async fn a_disabled_app_is_refused_for_basic_and_tokens() {
    let f = Fixture::new().await;
    let auth = f.auth();
    let token = f.hs256(&Fixture::claims(&f.hs));
    assert!(auth.authenticate(&bearer(&token)).await.is_ok());
    assert!(f
        .store
        .set_app_disabled(&f.hs.app_key, true)
        .await
        .expect("disable"));
    assert_eq!(
        rejection(&auth, &basic(&f.hs.app_key, f.hs.secret.expose())).await,
        Reject::Disabled
    );
    assert_eq!(rejection(&auth, &bearer(&token)).await, Reject::Disabled);
}

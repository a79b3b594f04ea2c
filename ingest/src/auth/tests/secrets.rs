//! The authentication cache, secrets at rest and in debug output, provisioning checks.

use super::*;
use crate::auth::{AppSecret, AppSecretSealing};

#[tokio::test]
async fn cache_hit_skips_the_store_and_failures_are_not_cached() {
    let f = Fixture::new().await;
    // refusals are not remembered: Fixture::config turns that cache off
    let config = IngestConfig {
        auth_cache_ttl_ms: 60_000,
        ..Fixture::config()
    };
    let auth = f.auth_with(&config, Some(f.secrets_key.clone()));
    let good = basic(&f.plain.app_key, f.plain.secret.expose());
    let token = bearer(&f.hs256(&Fixture::claims(&f.hs)));
    let before = f.lookups();
    for _ in 0..3 {
        assert_eq!(
            auth.authenticate(&good).await.ok(),
            Some(f.principal(&f.plain.app_key))
        );
        assert_eq!(
            auth.authenticate(&token).await.ok(),
            Some(f.principal(&f.hs.app_key))
        );
    }
    assert_eq!(
        f.lookups(),
        before + 2,
        "one lookup per distinct credential"
    );

    let wrong = basic(&f.plain.app_key, "as_wrong");
    for _ in 0..2 {
        assert_eq!(rejection(&auth, &wrong).await, Reject::WrongSecret);
    }
    assert_eq!(f.lookups(), before + 4, "rejections are never cached");
}

#[tokio::test]
async fn repeated_bad_credentials_cost_one_lookup_until_the_negative_ttl() {
    let f = Fixture::new().await;
    let mut config = Fixture::config();
    config.auth_negative_cache_ttl_ms = 300;
    let auth = f.auth_with(&config, Some(f.secrets_key.clone()));
    let wrong = basic(&f.plain.app_key, "as_wrong");
    let later_secret = AppSecret::generate();
    let later = basic("ak_created_later", later_secret.expose());
    let forged = bearer(&sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"not the app secret"),
        &Fixture::claims(&f.hs),
    ));
    let before = f.lookups();
    for _ in 0..50 {
        assert_eq!(rejection(&auth, &wrong).await, Reject::WrongSecret);
        assert_eq!(rejection(&auth, &later).await, Reject::UnknownApp);
        assert_eq!(rejection(&auth, &forged).await, Reject::BadSignature);
    }
    assert_eq!(
        f.lookups(),
        before + 3,
        "one lookup per distinct bad credential"
    );
    // malformed credentials need no lookup and are not remembered
    assert_eq!(
        rejection(&auth, &headers("Basic !!!")).await,
        Reject::Malformed
    );
    assert_eq!(f.lookups(), before + 3);

    // an app created with that key after the refusal works once the refusal expires
    f.store
        .create_app(&AppRecord {
            app_key: "ak_created_later".into(),
            tenant_id: f.tenant_id.clone(),
            secret_hash: later_secret.hash(),
            secret_ciphertext: None,
            jwt: None,
            scopes: Scopes::DEFAULT,
            disabled: false,
        })
        .await
        .expect("create");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        auth.authenticate(&later).await.ok(),
        Some(f.principal("ak_created_later"))
    );
    // the good credentials of the same app were never refused by the cache
    let good = basic(&f.plain.app_key, f.plain.secret.expose());
    assert_eq!(
        auth.authenticate(&good).await.ok(),
        Some(f.principal(&f.plain.app_key))
    );
}

#[tokio::test]
async fn cached_token_is_not_accepted_past_its_expiry() {
    let f = Fixture::new().await;
    let config = IngestConfig {
        auth_cache_ttl_ms: 60_000,
        jwt_leeway_s: 0,
        ..Fixture::config()
    };
    let auth = f.auth_with(&config, Some(f.secrets_key.clone()));
    let claims = with(&Fixture::claims(&f.hs), "exp", json!(now() + 1));
    let token = bearer(&f.hs256(&claims));
    assert!(auth.authenticate(&token).await.is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(rejection(&auth, &token).await, Reject::Expired);
}

#[tokio::test]
async fn secrets_never_appear_in_debug_output() {
    let f = Fixture::new().await;
    let auth = f.auth();
    let record = f
        .store
        .app_by_key(&f.hs.app_key)
        .await
        .expect("read")
        .expect("present");
    let err = auth
        .authenticate(&basic(&f.hs.app_key, f.hs.secret.expose()))
        .await;
    let text = format!(
        "{:?} {:?} {:?} {:?} {:?} {:?}",
        f.hs, f.plain, record, auth, f.secrets_key, err
    );
    for secret in [&f.hs.secret, &f.plain.secret] {
        assert!(!text.contains(secret.expose()), "secret leaked: {text}");
        let hash = hex::encode(secret.hash());
        assert!(!text.contains(&hash), "hash leaked: {text}");
    }
    assert!(
        !text.contains(&hex::encode([42u8; 32])),
        "key leaked: {text}"
    );
    assert!(!text.contains("42, 42, 42"), "key leaked: {text}");
    assert!(text.contains(&f.hs.app_key), "app keys are public: {text}");
    assert!(text.contains("[redacted]"), "{text}");
}

#[tokio::test]
async fn stored_secrets_are_hashed_and_encrypted_only_for_hs256() {
    let f = Fixture::new().await;
    let read = |key: String| {
        let store = Arc::clone(&f.store);
        async move {
            store
                .app_by_key(&key)
                .await
                .expect("read")
                .expect("present")
        }
    };
    let hs = read(f.hs.app_key.clone()).await;
    assert_eq!(hs.secret_hash, f.hs.secret.hash());
    let sealed = hs
        .secret_ciphertext
        .as_deref()
        .expect("HS256 keeps a ciphertext");
    assert!(!sealed
        .windows(f.hs.secret.expose().len())
        .any(|w| w == f.hs.secret.expose().as_bytes()));
    assert_eq!(
        f.secrets_key.decrypt(&f.hs.app_key, sealed).ok(),
        Some(f.hs.secret.clone())
    );
    assert_eq!(read(f.plain.app_key.clone()).await.secret_ciphertext, None);
    assert_eq!(read(f.es.app_key.clone()).await.secret_ciphertext, None);
}

#[tokio::test]
async fn provisioning_checks_its_inputs() {
    let f = Fixture::new().await;
    let store = f.store.as_ref();
    assert!(matches!(
        provision::create_app(
            store,
            &f.tenant_id,
            Some(JwtKey::Hs256),
            Scopes::DEFAULT,
            None
        )
        .await,
        Err(ProvisionError::SecretsKeyRequired)
    ));
    assert!(matches!(
        provision::create_app(store, "tn_missing", None, Scopes::DEFAULT, None).await,
        Err(ProvisionError::UnknownTenant(_))
    ));
    for pem in [
        "not a pem".to_owned(),
        f.es_private.clone(),
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_owned(),
    ] {
        let jwt = Some(JwtKey::Es256 {
            public_key_pem: pem,
        });
        assert!(matches!(
            provision::create_app(store, &f.tenant_id, jwt, Scopes::DEFAULT, None).await,
            Err(ProvisionError::PublicKey(_))
        ));
    }
    for name in ["", "   ", "a\nb", &"x".repeat(201)] {
        assert!(matches!(
            provision::create_tenant(store, name).await,
            Err(ProvisionError::InvalidName)
        ));
    }
}

//! Bearer JWTs: the pinned algorithm, expiry, leeway, audience, issuer.

use super::*;

#[tokio::test]
async fn hs256_token_signed_with_the_app_secret_authenticates() {
    let f = Fixture::new().await;
    let token = f.hs256(&Fixture::claims(&f.hs));
    let tenant = f.auth().authenticate(&bearer(&token)).await.expect("valid");
    assert_eq!(tenant, f.principal(&f.hs.app_key));
}

#[tokio::test]
async fn hs256_token_is_refused_without_the_secrets_key() {
    let f = Fixture::new().await;
    let auth = f.auth_with(&Fixture::config(), None);
    let token = f.hs256(&Fixture::claims(&f.hs));
    assert_eq!(
        rejection(&auth, &bearer(&token)).await,
        Reject::TokensNotEnabled
    );
}

#[tokio::test]
async fn hs256_token_signed_with_another_secret_is_refused() {
    let f = Fixture::new().await;
    let token = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(f.plain.secret.expose().as_bytes()),
        &Fixture::claims(&f.hs),
    );
    assert_eq!(
        rejection(&f.auth(), &bearer(&token)).await,
        Reject::BadSignature
    );
}

#[tokio::test]
async fn es256_token_signed_with_the_registered_key_authenticates() {
    let f = Fixture::new().await;
    let token = f.es256(&Fixture::claims(&f.es));
    let tenant = f.auth().authenticate(&bearer(&token)).await.expect("valid");
    assert_eq!(tenant, f.principal(&f.es.app_key));

    // The same claims signed by another P-256 key are refused.
    let (other_private, _) = p256_pair();
    let forged = sign(
        Algorithm::ES256,
        &EncodingKey::from_ec_pem(other_private.as_bytes()).expect("ec key"),
        &Fixture::claims(&f.es),
    );
    assert_eq!(
        rejection(&f.auth(), &bearer(&forged)).await,
        Reject::BadSignature
    );
}

#[tokio::test]
async fn alg_none_token_is_refused() {
    let f = Fixture::new().await;
    let auth = f.auth();
    for app in [&f.hs, &f.es] {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(Fixture::claims(app).to_string());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert_eq!(
                rejection(&auth, &bearer(&token)).await,
                Reject::MalformedToken,
                "{token}"
            );
        }
    }
}

#[tokio::test]
async fn hs256_token_keyed_with_the_es256_public_key_is_refused() {
    let f = Fixture::new().await;
    // The classic confusion attack: HMAC keyed with the public key the server holds.
    let token = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(f.es_public.as_bytes()),
        &Fixture::claims(&f.es),
    );
    assert_eq!(
        rejection(&f.auth(), &bearer(&token)).await,
        Reject::AlgorithmMismatch
    );
}

#[tokio::test]
async fn token_algorithm_other_than_the_pinned_one_is_refused() {
    let f = Fixture::new().await;
    let auth = f.auth();
    // Right secret, other HMAC algorithm.
    let hs384 = sign(
        Algorithm::HS384,
        &EncodingKey::from_secret(f.hs.secret.expose().as_bytes()),
        &Fixture::claims(&f.hs),
    );
    assert_eq!(
        rejection(&auth, &bearer(&hs384)).await,
        Reject::AlgorithmMismatch
    );
    // A valid ES256 signature for an app pinned to HS256.
    let es_for_hs = f.es256(&Fixture::claims(&f.hs));
    assert_eq!(
        rejection(&auth, &bearer(&es_for_hs)).await,
        Reject::AlgorithmMismatch
    );
    // An app without a JWT key accepts no token at all.
    let for_plain = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(f.plain.secret.expose().as_bytes()),
        &Fixture::claims(&f.plain),
    );
    assert_eq!(
        rejection(&auth, &bearer(&for_plain)).await,
        Reject::TokensNotEnabled
    );
}

#[tokio::test]
async fn expired_token_is_refused() {
    let f = Fixture::new().await;
    // Expired by leeway + 1 s.
    let claims = with(&Fixture::claims(&f.es), "exp", json!(now() - 31));
    let claims = with(&claims, "iat", json!(now() - 600));
    assert_eq!(
        rejection(&f.auth(), &bearer(&f.es256(&claims))).await,
        Reject::Expired
    );
}

#[tokio::test]
async fn leeway_is_honoured() {
    let f = Fixture::new().await;
    let claims = with(&Fixture::claims(&f.hs), "exp", json!(now() - 10));
    let claims = with(&claims, "iat", json!(now() - 600));
    let token = f.hs256(&claims);
    assert!(f.auth().authenticate(&bearer(&token)).await.is_ok());

    let strict = IngestConfig {
        jwt_leeway_s: 0,
        ..Fixture::config()
    };
    let auth = f.auth_with(&strict, Some(f.secrets_key.clone()));
    assert_eq!(rejection(&auth, &bearer(&token)).await, Reject::Expired);
}

#[tokio::test]
async fn token_without_exp_or_iat_is_refused() {
    let f = Fixture::new().await;
    let auth = f.auth();
    let claims = Fixture::claims(&f.hs);
    for name in ["exp", "iat", "aud", "iss"] {
        let token = f.hs256(&without(&claims, name));
        let reason = rejection(&auth, &bearer(&token)).await;
        // Without iss the token cannot even name its app.
        let expected = if name == "iss" {
            Reject::MalformedToken
        } else {
            Reject::MissingClaim
        };
        assert_eq!(reason, expected, "without {name}");
    }
}

#[tokio::test]
async fn token_for_another_audience_is_refused() {
    let f = Fixture::new().await;
    let auth = f.auth();
    for aud in [json!("other"), json!(["other", "also-other"]), json!("")] {
        let claims = with(&Fixture::claims(&f.es), "aud", aud.clone());
        assert_eq!(
            rejection(&auth, &bearer(&f.es256(&claims))).await,
            Reject::WrongAudience,
            "{aud}"
        );
    }
    // A configured audience other than the default is the one required.
    let custom = IngestConfig {
        jwt_audience: "push.example.com".into(),
        ..Fixture::config()
    };
    let auth = f.auth_with(&custom, None);
    let token = f.es256(&Fixture::claims(&f.es));
    assert_eq!(
        rejection(&auth, &bearer(&token)).await,
        Reject::WrongAudience
    );
    let claims = with(&Fixture::claims(&f.es), "aud", json!("push.example.com"));
    assert!(auth.authenticate(&bearer(&f.es256(&claims))).await.is_ok());
}

#[tokio::test]
async fn token_issued_in_the_future_is_refused() {
    let f = Fixture::new().await;
    let auth = f.auth();
    let ahead = with(&Fixture::claims(&f.hs), "iat", json!(now() + 120));
    assert_eq!(
        rejection(&auth, &bearer(&f.hs256(&ahead))).await,
        Reject::IssuedInFuture
    );
    // Within the leeway it is clock skew, not a forgery.
    let skewed = with(&Fixture::claims(&f.hs), "iat", json!(now() + 10));
    assert!(auth.authenticate(&bearer(&f.hs256(&skewed))).await.is_ok());
}

#[tokio::test]
async fn token_naming_an_unknown_app_is_refused() {
    let f = Fixture::new().await;
    let claims = with(&Fixture::claims(&f.hs), "iss", json!("ak_unknown"));
    assert_eq!(
        rejection(&f.auth(), &bearer(&f.hs256(&claims))).await,
        Reject::UnknownApp
    );
}

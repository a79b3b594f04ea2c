//! Credentials and the attacks on them.

use super::*;

fn jwt(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    format!(
        "Bearer {}",
        jsonwebtoken::encode(header, claims, key).expect("sign")
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn auth_attacks_are_refused() {
    let gw = gateway(None).await;
    let signing = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let public_pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("public pem");
    let private_pem = signing.to_pkcs8_pem(LineEnding::LF).expect("private pem");
    let es = gw
        .app(Some(JwtKey::Es256 {
            public_key_pem: public_pem.clone(),
        }))
        .await;
    let hs = gw.app(Some(JwtKey::Hs256)).await;
    let now = i64::try_from(jsonwebtoken::get_current_timestamp()).expect("now");
    let claims = |iss: &str, aud: &str, exp: i64| json!({"iss": iss, "aud": aud, "iat": now - 5, "exp": exp});
    let es_key = EncodingKey::from_ec_pem(private_pem.as_bytes()).expect("es key");
    let hs_key = EncodingKey::from_secret(hs.secret.expose().as_bytes());
    let es256 = Header::new(jsonwebtoken::Algorithm::ES256);
    let hs256 = Header::new(jsonwebtoken::Algorithm::HS256);

    // the good ones work, so the refusals below are about the attack, not the set-up
    for auth in [
        jwt(&es256, &claims(&es.app_key, "notify", now + 300), &es_key),
        jwt(&hs256, &claims(&hs.app_key, "notify", now + 300), &hs_key),
        basic(&hs),
    ] {
        let (status, body) = gw.notify(Some(&auth), &[], notification("u")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }

    let unsigned = format!(
        "Bearer {}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(&es.app_key, "notify", now + 300).to_string())
    );
    let attacks = [
        ("no credentials", None),
        (
            "wrong secret",
            Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{}:as_wrong", hs.app_key))
            )),
        ),
        (
            "unknown app",
            Some(format!("Basic {}", STANDARD.encode("ak_nobody:as_nothing"))),
        ),
        ("alg none", Some(unsigned)),
        (
            "HS256 keyed with the ES256 public key",
            Some(jwt(
                &hs256,
                &claims(&es.app_key, "notify", now + 300),
                &EncodingKey::from_secret(public_pem.as_bytes()),
            )),
        ),
        (
            "expired",
            Some(jwt(
                &es256,
                &claims(&es.app_key, "notify", now - 600),
                &es_key,
            )),
        ),
        (
            "wrong audience",
            Some(jwt(
                &es256,
                &claims(&es.app_key, "someone-else", now + 300),
                &es_key,
            )),
        ),
        ("garbage", Some("Bearer abc.def.ghi".to_owned())),
    ];
    for (name, auth) in attacks {
        let (status, body) = gw.notify(auth.as_deref(), &[], notification("u")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
    }
    gw.drop_keyspace().await;
}

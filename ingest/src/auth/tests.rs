//! In-process tests of authentication: [`Authenticator`] against the in-memory store, and the
//! middleware through an axum router.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use notify_common::config::IngestConfig;
use notify_store::tenants::{
    AppRecord, AppStore, JwtKey, MemoryTenants, StoreFuture, TenantRecord,
};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rand::RngCore;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::provision::{self, IssuedApp, ProvisionError};
use super::{require_auth, AuthError, Authenticator, Reject, SecretsKey};
use crate::tenant::Tenant;

/// Counts look-ups on the request path, to see the cache at work.
#[derive(Default)]
struct CountingStore {
    inner: MemoryTenants,
    lookups: AtomicUsize,
}

impl AppStore for CountingStore {
    fn app_by_key<'a>(&'a self, app_key: &'a str) -> StoreFuture<'a, Option<AppRecord>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.app_by_key(app_key)
    }
    fn tenant_by_id<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Option<TenantRecord>> {
        self.inner.tenant_by_id(tenant_id)
    }
    fn create_tenant<'a>(&'a self, tenant: &'a TenantRecord) -> StoreFuture<'a, ()> {
        self.inner.create_tenant(tenant)
    }
    fn create_app<'a>(&'a self, app: &'a AppRecord) -> StoreFuture<'a, ()> {
        self.inner.create_app(app)
    }
    fn set_app_disabled<'a>(&'a self, app_key: &'a str, disabled: bool) -> StoreFuture<'a, bool> {
        self.inner.set_app_disabled(app_key, disabled)
    }
}

/// A P-256 key pair as PEM: (PKCS#8 private key, SubjectPublicKeyInfo public key).
fn p256_pair() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = p256::SecretKey::from_slice(&bytes).expect("random scalar in range");
    let private = secret
        .to_pkcs8_pem(LineEnding::LF)
        .expect("private pem")
        .to_string();
    let public = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("public pem");
    (private, public)
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

struct Fixture {
    store: Arc<CountingStore>,
    secrets_key: SecretsKey,
    tenant_id: String,
    /// Basic only.
    plain: IssuedApp,
    /// Pinned to HS256.
    hs: IssuedApp,
    /// Pinned to ES256; the private key PEM signs its tokens.
    es: IssuedApp,
    es_private: String,
    es_public: String,
}

impl Fixture {
    async fn new() -> Self {
        let store = Arc::new(CountingStore::default());
        let secrets_key = SecretsKey::from_bytes([42; 32]);
        let tenant = provision::create_tenant(store.as_ref(), "acme")
            .await
            .expect("tenant");
        let create = |jwt| {
            let store = Arc::clone(&store);
            let tenant_id = tenant.tenant_id.clone();
            let key = secrets_key.clone();
            async move {
                provision::create_app(store.as_ref(), &tenant_id, jwt, Some(&key))
                    .await
                    .expect("app")
            }
        };
        let (es_private, es_public) = p256_pair();
        let plain = create(None).await;
        let hs = create(Some(JwtKey::Hs256)).await;
        let es = create(Some(JwtKey::Es256 {
            public_key_pem: es_public.clone(),
        }))
        .await;
        Self {
            store,
            secrets_key,
            tenant_id: tenant.tenant_id,
            plain,
            hs,
            es,
            es_private,
            es_public,
        }
    }

    fn config() -> IngestConfig {
        IngestConfig {
            // Most tests look at one verification; the cache tests turn it on.
            auth_cache_ttl_ms: 0,
            jwt_leeway_s: 30,
            ..IngestConfig::default()
        }
    }

    fn auth_with(&self, config: &IngestConfig, secrets_key: Option<SecretsKey>) -> Authenticator {
        Authenticator::new(self.store.clone(), config, secrets_key)
    }

    fn auth(&self) -> Authenticator {
        self.auth_with(&Self::config(), Some(self.secrets_key.clone()))
    }

    fn tenant(&self) -> Tenant {
        Tenant(self.tenant_id.clone())
    }

    fn lookups(&self) -> usize {
        self.store.lookups.load(Ordering::SeqCst)
    }

    /// Claims accepted by default: issued now, valid for 5 minutes, right audience.
    fn claims(app: &IssuedApp) -> Value {
        json!({
            "iss": app.app_key,
            "aud": "notify",
            "iat": now(),
            "exp": now() + 300,
        })
    }

    fn hs256(&self, claims: &Value) -> String {
        sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(self.hs.secret.expose().as_bytes()),
            claims,
        )
    }

    fn es256(&self, claims: &Value) -> String {
        let key = EncodingKey::from_ec_pem(self.es_private.as_bytes()).expect("ec key");
        sign(Algorithm::ES256, &key, claims)
    }
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).expect("sign")
}

fn headers(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(value).expect("header value"),
    );
    headers
}

fn basic(app_key: &str, secret: &str) -> HeaderMap {
    headers(&format!(
        "Basic {}",
        STANDARD.encode(format!("{app_key}:{secret}"))
    ))
}

fn bearer(token: &str) -> HeaderMap {
    headers(&format!("Bearer {token}"))
}

async fn rejection(auth: &Authenticator, headers: &HeaderMap) -> Reject {
    match auth.authenticate(headers).await {
        Err(AuthError::Unauthorized(reason)) => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn without(claims: &Value, name: &str) -> Value {
    let mut claims = claims.clone();
    claims.as_object_mut().expect("object").remove(name);
    claims
}

fn with(claims: &Value, name: &str, value: Value) -> Value {
    let mut claims = claims.clone();
    claims[name] = value;
    claims
}

#[tokio::test]
async fn basic_with_the_right_secret_authenticates_as_the_tenant() {
    let f = Fixture::new().await;
    let auth = f.auth();
    for app in [&f.plain, &f.hs, &f.es] {
        let tenant = auth
            .authenticate(&basic(&app.app_key, app.secret.expose()))
            .await
            .expect("authenticated");
        assert_eq!(tenant, f.tenant());
    }
    // The scheme name is case-insensitive.
    let value = format!(
        "bAsIc {}",
        STANDARD.encode(format!("{}:{}", f.plain.app_key, f.plain.secret.expose()))
    );
    assert_eq!(
        auth.authenticate(&headers(&value)).await.ok(),
        Some(f.tenant())
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

#[tokio::test]
async fn hs256_token_signed_with_the_app_secret_authenticates() {
    let f = Fixture::new().await;
    let token = f.hs256(&Fixture::claims(&f.hs));
    let tenant = f.auth().authenticate(&bearer(&token)).await.expect("valid");
    assert_eq!(tenant, f.tenant());
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
    assert_eq!(tenant, f.tenant());

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

#[tokio::test]
async fn cache_hit_skips_the_store_and_failures_are_not_cached() {
    let f = Fixture::new().await;
    let config = IngestConfig {
        auth_cache_ttl_ms: 60_000,
        ..Fixture::config()
    };
    let auth = f.auth_with(&config, Some(f.secrets_key.clone()));
    let good = basic(&f.plain.app_key, f.plain.secret.expose());
    let token = bearer(&f.hs256(&Fixture::claims(&f.hs)));
    let before = f.lookups();
    for _ in 0..3 {
        assert_eq!(auth.authenticate(&good).await.ok(), Some(f.tenant()));
        assert_eq!(auth.authenticate(&token).await.ok(), Some(f.tenant()));
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
        provision::create_app(store, &f.tenant_id, Some(JwtKey::Hs256), None).await,
        Err(ProvisionError::SecretsKeyRequired)
    ));
    assert!(matches!(
        provision::create_app(store, "tn_missing", None, None).await,
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
            provision::create_app(store, &f.tenant_id, jwt, None).await,
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

/// A router with one guarded route answering `<tenant>|<whether Authorization got through>`.
fn router(auth: Authenticator) -> Router {
    async fn whoami(tenant: Tenant, headers: HeaderMap) -> String {
        format!("{}|{}", tenant.id(), headers.contains_key(AUTHORIZATION))
    }
    Router::new()
        .route("/whoami", get(whoami))
        .layer(from_fn_with_state(Arc::new(auth), require_auth))
}

async fn call(router: &Router, headers: HeaderMap) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::builder().uri("/whoami");
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn middleware_hands_the_tenant_to_the_handler_without_the_credential() {
    let f = Fixture::new().await;
    let router = router(f.auth());
    let (status, _, body) = call(&router, basic(&f.plain.app_key, f.plain.secret.expose())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("{}|false", f.tenant_id));
}

#[tokio::test]
async fn middleware_answers_the_same_401_for_every_rejection() {
    let f = Fixture::new().await;
    let router = router(f.auth());
    let expired = with(&Fixture::claims(&f.es), "exp", json!(now() - 3600));
    let answers = [
        call(&router, HeaderMap::new()).await,
        call(&router, basic("ak_unknown", f.plain.secret.expose())).await,
        call(&router, basic(&f.plain.app_key, "as_wrong")).await,
        call(&router, bearer(&f.es256(&expired))).await,
    ];
    for (status, headers, body) in &answers {
        assert_eq!(*status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[CONTENT_TYPE], "application/problem+json");
        assert!(headers.contains_key("www-authenticate"));
        assert_eq!(body, &answers[0].2, "bodies differ");
    }
}

#[tokio::test]
async fn middleware_answers_503_when_the_store_is_down() {
    let f = Fixture::new().await;
    let router = router(f.auth());
    f.store.inner.set_unavailable(true);
    let (status, headers, body) =
        call(&router, basic(&f.plain.app_key, f.plain.secret.expose())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key(RETRY_AFTER));
    assert!(!body.contains("timeout"), "internals leaked: {body}");
    f.store.inner.set_unavailable(false);
    let (status, _, _) = call(&router, basic(&f.plain.app_key, f.plain.secret.expose())).await;
    assert_eq!(status, StatusCode::OK);
}

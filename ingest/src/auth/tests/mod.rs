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
    AppRecord, AppStore, JwtKey, MemoryTenants, Scope, Scopes, StoreFuture, TenantRecord,
};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rand::RngCore;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::provision::{self, IssuedApp, ProvisionError};
use super::{require_auth, require_scope, AuthError, Authenticator, Principal, Reject, SecretsKey};
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
                provision::create_app(store.as_ref(), &tenant_id, jwt, Scopes::DEFAULT, Some(&key))
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
            auth_negative_cache_ttl_ms: 0,
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

    /// Who the fixture app with key `app_key` authenticates as.
    fn principal(&self, app_key: &str) -> Principal {
        Principal {
            tenant: Tenant(self.tenant_id.clone()),
            scopes: Scopes::DEFAULT,
            app_key: crate::tenant::AppKey(app_key.to_owned()),
        }
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

mod basic;
mod middleware;
mod secrets;
mod tokens;

//! The webhook admin routes through the whole router: registration behind the SSRF guard, the
//! secret shown once and stored sealed, rotation, deletion, tenant isolation.

mod support;

use axum::http::{Method, StatusCode};
use notify_common::sealed::SecretsKey;
use notify_ingest::auth::provision::{create_app, create_tenant};
use notify_store::tenants::{Scope, Scopes};
use notify_store::webhooks::sealing_context;
use serde_json::json;

async fn admin_key(h: &support::Harness, tenant: &str) -> String {
    let app = create_app(
        h.tenants.as_ref(),
        tenant,
        None,
        Scopes::only(Scope::Admin),
        None,
    )
    .await
    .expect("app");
    support::basic_auth(&app)
}

#[tokio::test]
async fn urls_the_ssrf_guard_refuses_are_not_registered() {
    let h = support::harness(support::config_with(|_| {})).await;
    let auth = admin_key(&h, &h.tenant).await;
    for url in [
        "http://hooks.example.com/in",              // not https
        "https://127.0.0.1/in",                     // loopback
        "https://localhost/in",                     // resolves to loopback
        "https://10.1.2.3/in",                      // private
        "https://169.254.169.254/latest/meta-data", // link-local (cloud metadata)
        "https://[::1]/in",                         // IPv6 loopback
        "https://[::ffff:192.168.0.1]/in",          // IPv4-mapped private
        "https://0x7f.1/in",                        // loopback, spelled oddly
        "https://93.184.216.34:8443/in",            // a port not allowed
        "https://user:pw@93.184.216.34/in",         // user info
        "not a url",
    ] {
        let (status, body) = h
            .call(
                &auth,
                Method::POST,
                "/v1/webhooks",
                Some(&json!({"url": url})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["errors"][0]["field"], "/url", "{url}: {body}");
    }
    let (status, body) = h.call(&auth, Method::GET, "/v1/webhooks", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"], json!([]), "nothing was registered");

    let (status, body) = h
        .call(
            &auth,
            Method::POST,
            "/v1/webhooks",
            Some(&json!({"url": "https://93.184.216.34/in", "statuses": ["SENT", "NOPE"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "/statuses/1", "{body}");
}

#[tokio::test]
async fn the_secret_is_shown_once_stored_sealed_and_rotated_and_tenants_stay_apart() {
    let h = support::harness(support::config_with(|_| {})).await;
    let auth = admin_key(&h, &h.tenant).await;
    let url = "https://93.184.216.34/hooks/notify";
    let (status, created) = h
        .call(
            &auth,
            Method::POST,
            "/v1/webhooks",
            Some(&json!({"url": url, "statuses": ["DELIVERED", "FAILED"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["endpoint_id"].as_str().expect("id").to_owned();
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(created["url"], url);

    // stored sealed under the operator's key, bound to the tenant and endpoint
    let stored = h
        .state
        .webhooks
        .store
        .endpoint(&h.tenant, &id)
        .await
        .expect("read")
        .expect("stored");
    assert!(!stored
        .secret_ciphertext
        .windows(secret.len())
        .any(|w| w == secret.as_bytes()));
    let key = SecretsKey::from_bytes([5; 32]);
    let opened = key.open(&sealing_context(&h.tenant, &id), &stored.secret_ciphertext);
    assert_eq!(opened.as_deref(), Ok(secret.as_bytes()));
    assert_eq!(
        stored.statuses,
        vec!["DELIVERED".to_owned(), "FAILED".to_owned()]
    );

    for uri in ["/v1/webhooks".to_owned(), format!("/v1/webhooks/{id}")] {
        let (status, body) = h.call(&auth, Method::GET, &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(
            !body.to_string().contains(&secret),
            "{uri} shows the secret: {body}"
        );
    }

    let (status, rotated) = h
        .call(
            &auth,
            Method::POST,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("secret");
    assert_ne!(new_secret, secret);

    // another tenant neither sees nor changes it
    let other = create_tenant(h.tenants.as_ref(), "other")
        .await
        .expect("tenant");
    let other_auth = admin_key(&h, &other.tenant_id).await;
    let (_, list) = h.call(&other_auth, Method::GET, "/v1/webhooks", None).await;
    assert_eq!(list["items"], json!([]));
    for (method, uri) in [
        (Method::GET, format!("/v1/webhooks/{id}")),
        (Method::POST, format!("/v1/webhooks/{id}/rotate-secret")),
        (Method::DELETE, format!("/v1/webhooks/{id}")),
    ] {
        let (status, body) = h.call(&other_auth, method.clone(), &uri, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}: {body}");
    }

    let (status, _) = h
        .call(&auth, Method::DELETE, &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h
        .call(&auth, Method::GET, &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

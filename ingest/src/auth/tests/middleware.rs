//! The middleware through an axum router: what the handler sees and what a rejection answers.

use super::*;

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
    answer(
        router.clone(),
        request.body(Body::empty()).expect("request"),
    )
    .await
}

/// Status, headers and body text of `router`'s answer to `request`.
async fn answer(router: Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = router.oneshot(request).await.expect("infallible");
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

/// A group behind the scope check only: what it answers depends on the scopes in the request.
fn scoped(needed: Scope) -> Router {
    Router::new()
        .route("/scoped", get(|| async { "in" }))
        .route_layer(from_fn_with_state(needed, require_scope))
}

async fn call_scoped(router: Router, scopes: Option<Scopes>) -> (StatusCode, String) {
    let mut request = Request::builder()
        .uri("/scoped")
        .body(Body::empty())
        .expect("request");
    if let Some(scopes) = scopes {
        request.extensions_mut().insert(scopes);
    }
    let (status, _, body) = answer(router, request).await;
    (status, body)
}

#[tokio::test]
async fn scope_check_lets_through_only_keys_with_the_scope() {
    let (status, body) = call_scoped(scoped(Scope::Admin), Some(Scopes::ALL)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "in"));
    let (status, body) = call_scoped(scoped(Scope::Admin), Some(Scopes::DEFAULT)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let problem: Value = serde_json::from_str(&body).expect("problem json");
    assert_eq!(problem["required_scope"], "admin");
    assert_eq!(problem["status"], 403);
}

#[tokio::test]
async fn scope_check_without_authentication_fails_closed() {
    let (status, _) = call_scoped(scoped(Scope::Send), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

//! What an app key may do, through the whole router.

mod support;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::json;

/// The weakness: any app key, however it was created, manages the tenant's directory.
#[tokio::test]
async fn today_any_app_key_is_a_tenant_admin() {
    let h = support::harness(support::config_with(|_| {})).await;
    let request = Request::put("/v1/users/u1")
        .header(header::AUTHORIZATION, &h.auth)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"email": "u1@example.com"}).to_string()))
        .expect("request");
    let (status, _, body) = h.send(request).await;
    assert_eq!(status, StatusCode::CREATED, "{body:?}");
}

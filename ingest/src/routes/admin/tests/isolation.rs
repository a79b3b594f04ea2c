use std::time::Duration;

use axum::http::{Method, StatusCode};
use notify_store::directory::DirectoryError;
use notify_store::StoreError;
use serde_json::json;
use utoipa::OpenApi as _;

use super::{apns_token, Api};
use crate::routes::admin::{directory_problem, AdminApi};

#[tokio::test]
async fn another_tenants_objects_answer_404() {
    let api = Api::new();
    api.user("a", "u1").await;
    let device = api
        .post(
            "a",
            "/v1/users/u1/devices",
            json!({"platform": "apns", "token": apns_token(5)}),
        )
        .await;
    let device_uri = format!(
        "/v1/users/u1/devices/{}",
        device.body["device_id"].as_str().expect("id")
    );
    api.put(
        "a",
        "/v1/templates/welcome",
        json!({"variants": [{"locale": "en", "channel": "sms", "text": "hi"}]}),
    )
    .await;
    api.put("a", "/v1/categories/news", json!({})).await;

    for uri in [
        "/v1/users/u1",
        "/v1/users/u1/devices",
        device_uri.as_str(),
        "/v1/users/u1/preferences",
        "/v1/templates/welcome",
        "/v1/templates/welcome?version=1",
        "/v1/categories/news",
    ] {
        assert_eq!(
            api.get("b", uri).await.status,
            StatusCode::NOT_FOUND,
            "GET {uri}"
        );
    }
    for uri in ["/v1/users", "/v1/templates", "/v1/categories"] {
        let page = api.get("b", uri).await;
        assert_eq!(page.body["items"], json!([]), "GET {uri}");
    }
    let foreign_device = api
        .post(
            "b",
            "/v1/users/u1/devices",
            json!({"platform": "apns", "token": apns_token(6)}),
        )
        .await;
    assert_eq!(foreign_device.status, StatusCode::NOT_FOUND);
    let foreign_preferences = api
        .put("b", "/v1/users/u1/preferences", json!({"opted_out": true}))
        .await;
    assert_eq!(foreign_preferences.status, StatusCode::NOT_FOUND);
    for uri in [
        device_uri.as_str(),
        "/v1/users/u1/preferences",
        "/v1/users/u1",
        "/v1/templates/welcome",
        "/v1/categories/news",
    ] {
        assert_eq!(
            api.delete("b", uri).await.status,
            StatusCode::NOT_FOUND,
            "DELETE {uri}"
        );
    }

    // Tenant a still has everything, unchanged.
    assert_eq!(api.get("a", "/v1/users/u1").await.body["opted_out"], false);
    assert_eq!(api.get("a", &device_uri).await.status, StatusCode::OK);
    api.get("a", "/v1/templates/welcome")
        .await
        .assert_status(StatusCode::OK);
    api.get("a", "/v1/categories/news")
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(
        api.get("a", "/v1/users/u1/devices").await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn every_route_needs_a_tenant() {
    let api = Api::new();
    api.user("a", "u1").await;
    let routes = [
        (Method::GET, "/v1/users"),
        (Method::GET, "/v1/users/u1"),
        (Method::PUT, "/v1/users/u1"),
        (Method::DELETE, "/v1/users/u1"),
        (Method::GET, "/v1/users/u1/devices"),
        (Method::POST, "/v1/users/u1/devices"),
        (Method::GET, "/v1/users/u1/devices/0123456789abcdef"),
        (Method::DELETE, "/v1/users/u1/devices/0123456789abcdef"),
        (Method::GET, "/v1/users/u1/preferences"),
        (Method::PUT, "/v1/users/u1/preferences"),
        (Method::DELETE, "/v1/users/u1/preferences"),
        (Method::GET, "/v1/templates"),
        (Method::GET, "/v1/templates/welcome"),
        (Method::PUT, "/v1/templates/welcome"),
        (Method::DELETE, "/v1/templates/welcome"),
        (Method::GET, "/v1/categories"),
        (Method::GET, "/v1/categories/news"),
        (Method::PUT, "/v1/categories/news"),
        (Method::DELETE, "/v1/categories/news"),
    ];
    for (method, uri) in routes {
        let reply = api
            .call(
                None,
                method.clone(),
                uri,
                Some(axum::body::Body::from("{}")),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert_eq!(
            reply.content_type.as_deref(),
            Some("application/problem+json")
        );
    }
    // Nothing was changed without a tenant.
    assert_eq!(api.get("a", "/v1/users/u1").await.status, StatusCode::OK);
}

#[test]
fn directory_failures_map_to_statuses() {
    let cases = [
        (DirectoryError::NotFound { what: "user" }, 404),
        (DirectoryError::InvalidCursor, 422),
        (
            DirectoryError::TooMany {
                what: "devices",
                limit: 100,
            },
            409,
        ),
        (DirectoryError::Conflict("race".into()), 409),
        (
            DirectoryError::from(StoreError::Execute(Box::new(
                scylla::errors::ExecutionError::RequestTimeout(Duration::from_secs(1)),
            ))),
            503,
        ),
        (
            DirectoryError::Corrupt {
                table: "devices",
                reason: "secret detail".into(),
            },
            500,
        ),
    ];
    for (err, status) in cases {
        let problem = directory_problem(err);
        assert_eq!(problem.status, status, "{problem:?}");
        if status == 500 {
            assert_eq!(problem.detail, None, "5xx must not leak internals");
        }
    }
}

#[test]
fn openapi_lists_every_admin_path() {
    let doc = AdminApi::openapi();
    let json = serde_json::to_value(&doc).expect("serializes");
    for path in [
        "/v1/users",
        "/v1/users/{user_id}",
        "/v1/users/{user_id}/devices",
        "/v1/users/{user_id}/devices/{device_id}",
        "/v1/users/{user_id}/preferences",
        "/v1/templates",
        "/v1/templates/{template_id}",
        "/v1/categories",
        "/v1/categories/{category_id}",
    ] {
        assert!(json["paths"].get(path).is_some(), "missing {path}");
    }
    let schemas = &json["components"]["schemas"];
    for schema in ["UserBody", "DeviceRegistration", "TemplateBody", "Problem"] {
        assert!(schemas.get(schema).is_some(), "missing schema {schema}");
    }
}

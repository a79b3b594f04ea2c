use axum::http::StatusCode;
use serde_json::json;

use super::Api;

#[tokio::test]
async fn category_crud_and_paging() {
    let api = Api::new();
    api.get("t1", "/v1/categories/security")
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let created = api
        .put(
            "t1",
            "/v1/categories/security",
            json!({"description": "sign-in codes", "critical": true}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["critical"], true);
    let replaced = api.put("t1", "/v1/categories/security", json!({})).await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(replaced.body["critical"], false);
    assert_eq!(replaced.body["description"], serde_json::Value::Null);
    assert_eq!(
        api.get("t1", "/v1/categories/security").await.body,
        replaced.body
    );

    for id in ["news", "billing", "promo"] {
        api.put("t1", &format!("/v1/categories/{id}"), json!({}))
            .await;
    }
    let first = api.get("t1", "/v1/categories?limit=3").await;
    let ids: Vec<&str> = first.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["category_id"].as_str())
        .collect();
    assert_eq!(ids, ["billing", "news", "promo"]);
    let next = first.body["next"].as_str().expect("more");
    let rest = api
        .get("t1", &format!("/v1/categories?limit=3&cursor={next}"))
        .await;
    assert_eq!(rest.body["items"][0]["category_id"], "security");
    assert!(rest.body["next"].is_null());

    api.delete("t1", "/v1/categories/promo")
        .await
        .assert_status(StatusCode::NO_CONTENT);
    api.delete("t1", "/v1/categories/promo")
        .await
        .assert_status(StatusCode::NOT_FOUND);

    api.put(
        "t1",
        "/v1/categories/x",
        json!({"description": "two\nlines", "critical": "yes"}),
    )
    .await
    .assert_invalid(&["/critical"]);
    api.put(
        "t1",
        "/v1/categories/x",
        json!({"description": "two\nlines"}),
    )
    .await
    .assert_invalid(&["/description"]);
}

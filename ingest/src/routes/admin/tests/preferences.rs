use axum::http::StatusCode;
use serde_json::json;

use super::Api;

#[tokio::test]
async fn preferences_merge_and_carry_the_opt_out() {
    let api = Api::new();
    let missing = api
        .put("t1", "/v1/users/u1/preferences", json!({"preferences": []}))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    api.user("t1", "u1").await;
    let empty = api.get("t1", "/v1/users/u1/preferences").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body, json!({"opted_out": false, "preferences": []}));

    let set = api
        .put(
            "t1",
            "/v1/users/u1/preferences",
            json!({
                "opted_out": true,
                "preferences": [
                    {"category": "news", "channel": "sms", "enabled": false},
                    {"category": "billing", "channel": "webpush", "enabled": true}
                ]
            }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{set:?}");
    let merged = api
        .put(
            "t1",
            "/v1/users/u1/preferences",
            json!({"preferences": [{"category": "news", "channel": "sms", "enabled": true}]}),
        )
        .await;
    let expected = json!({
        "opted_out": true,
        "preferences": [
            {"category": "billing", "channel": "webpush", "enabled": true},
            {"category": "news", "channel": "sms", "enabled": true}
        ]
    });
    assert_eq!(merged.body, expected);
    assert_eq!(
        api.get("t1", "/v1/users/u1/preferences").await.body,
        expected
    );
    assert_eq!(api.get("t1", "/v1/users/u1").await.body["opted_out"], true);

    api.delete("t1", "/v1/users/u1/preferences")
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("t1", "/v1/users/u1/preferences").await.body,
        json!({"opted_out": true, "preferences": []})
    );
}

#[tokio::test]
async fn preferences_are_validated_with_their_paths() {
    let api = Api::new();
    api.user("t1", "u1").await;
    api.put(
        "t1",
        "/v1/users/u1/preferences",
        json!({"preferences": [{"category": "news", "channel": "pager", "enabled": true}]}),
    )
    .await
    .assert_invalid(&["/preferences/0/channel"]);
    api.put(
        "t1",
        "/v1/users/u1/preferences",
        json!({"preferences": [
            {"category": "news", "channel": "sms", "enabled": true},
            {"category": "", "channel": "sms", "enabled": true},
            {"category": "news", "channel": "sms", "enabled": false}
        ]}),
    )
    .await
    .assert_invalid(&["/preferences/1/category", "/preferences/2"]);
    let too_many: Vec<_> = (0..201)
        .map(|i| json!({"category": format!("c{i}"), "channel": "email", "enabled": false}))
        .collect();
    api.put(
        "t1",
        "/v1/users/u1/preferences",
        json!({"preferences": too_many}),
    )
    .await
    .assert_invalid(&["/preferences"]);
    assert_eq!(
        api.get("t1", "/v1/users/u1/preferences").await.body["preferences"],
        json!([])
    );
}

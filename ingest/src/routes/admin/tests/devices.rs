use axum::http::StatusCode;
use serde_json::json;

use super::{apns_token, subscription, Api};

#[tokio::test]
async fn device_registration_is_idempotent_per_token() {
    let api = Api::new();
    let unknown_user = api
        .post(
            "t1",
            "/v1/users/u1/devices",
            json!({"platform": "apns", "token": apns_token(1)}),
        )
        .await;
    assert_eq!(unknown_user.status, StatusCode::NOT_FOUND);
    api.get("t1", "/v1/users/u1/devices")
        .await
        .assert_status(StatusCode::NOT_FOUND);

    api.user("t1", "u1").await;
    let created = api
        .post(
            "t1",
            "/v1/users/u1/devices",
            json!({"platform": "apns", "token": apns_token(0xabc), "app_topic": "com.example.app"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let device_id = created.body["device_id"].as_str().expect("id").to_owned();
    assert_eq!(device_id.len(), 16);
    assert_eq!(created.body["state"], "active");
    assert_eq!(created.body["platform"], "apns");

    // The same token in upper case is the same device.
    let again = api
        .post(
            "t1",
            "/v1/users/u1/devices",
            json!({"platform": "apns", "token": apns_token(0xabc).to_uppercase()}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.body["device_id"], device_id.as_str());
    assert_eq!(again.body["created_at_ms"], created.body["created_at_ms"]);

    let fcm = api
        .post(
            "t1",
            "/v1/users/u1/devices",
            json!({"platform": "fcm", "token": format!("dGVzdA:{}", "A".repeat(140))}),
        )
        .await;
    assert_eq!(fcm.status, StatusCode::CREATED, "{fcm:?}");
    let web = api
        .post(
            "t1",
            "/v1/users/u1/devices",
            json!({"platform": "webpush", "subscription": subscription("https://push.example.net/x")}),
        )
        .await;
    assert_eq!(web.status, StatusCode::CREATED, "{web:?}");
    assert_eq!(
        web.body["subscription"]["endpoint"],
        "https://push.example.net/x"
    );
    assert!(web.body.get("token").is_none());

    let list = api.get("t1", "/v1/users/u1/devices").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(3));

    let uri = format!("/v1/users/u1/devices/{device_id}");
    let got = api.get("t1", &uri).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["token"], apns_token(0xabc).as_str());
    assert_eq!(api.delete("t1", &uri).await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("t1", &uri).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.delete("t1", &uri).await.status, StatusCode::NOT_FOUND);

    // Deleting the user takes the devices along.
    api.delete("t1", "/v1/users/u1")
        .await
        .assert_status(StatusCode::NO_CONTENT);
    api.user("t1", "u1").await;
    let list = api.get("t1", "/v1/users/u1/devices").await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn device_registrations_are_validated_with_their_paths() {
    let api = Api::new();
    api.user("t1", "u1").await;
    let post = |body| api.post("t1", "/v1/users/u1/devices", body);

    post(json!({"platform": "apns", "token": "not hex"}))
        .await
        .assert_invalid(&["/token"]);
    post(json!({"platform": "fcm", "token": "short"}))
        .await
        .assert_invalid(&["/token"]);
    post(json!({"platform": "apns", "token": apns_token(1), "app_topic": "a\nb"}))
        .await
        .assert_invalid(&["/app_topic"]);
    post(json!({
        "platform": "webpush",
        "subscription": {"endpoint": "http://push.example.net/x", "keys": {"p256dh": "AAAA", "auth": "%%"}}
    }))
    .await
    .assert_invalid(&[
        "/subscription/endpoint",
        "/subscription/keys/p256dh",
        "/subscription/keys/auth",
    ]);

    let unknown_platform = post(json!({"platform": "pager", "token": "x"})).await;
    assert_eq!(unknown_platform.status, StatusCode::UNPROCESSABLE_ENTITY);
    let extra = post(json!({"platform": "apns", "token": apns_token(1), "color": "red"})).await;
    assert_eq!(extra.status, StatusCode::UNPROCESSABLE_ENTITY, "{extra:?}");
    let token_for_webpush = post(json!({"platform": "webpush", "token": apns_token(1)})).await;
    assert_eq!(token_for_webpush.status, StatusCode::UNPROCESSABLE_ENTITY);

    let list = api.get("t1", "/v1/users/u1/devices").await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(0));
}

use axum::http::StatusCode;
use serde_json::json;

use super::Api;

#[tokio::test]
async fn user_crud() {
    let api = Api::new();
    api.get("t1", "/v1/users/u1")
        .await
        .assert_status(StatusCode::NOT_FOUND);

    let body = json!({
        "locale": "ko-KR",
        "time_zone": "Asia/Seoul",
        "email": "kim@example.com",
        "phone": "+821012345678",
        "quiet_hours": {"start_minute": 1320, "end_minute": 420}
    });
    let created = api.put("t1", "/v1/users/u1", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["user_id"], "u1");
    assert_eq!(created.body["quiet_hours"]["start_minute"], 1320);
    assert_eq!(created.body["opted_out"], false);

    let got = api.get("t1", "/v1/users/u1").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, created.body);

    // PUT replaces: the phone goes, the creation time stays.
    let replaced = api
        .put(
            "t1",
            "/v1/users/u1",
            json!({"email": "kim@example.org", "opted_out": true}),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(replaced.body["phone"], serde_json::Value::Null);
    assert_eq!(
        replaced.body["created_at_ms"],
        created.body["created_at_ms"]
    );
    assert_eq!(replaced.body["opted_out"], true);
    // Leaving opted_out out keeps it.
    let kept = api.put("t1", "/v1/users/u1", json!({})).await;
    assert_eq!(kept.body["opted_out"], true);

    api.delete("t1", "/v1/users/u1")
        .await
        .assert_status(StatusCode::NO_CONTENT);
    api.get("t1", "/v1/users/u1")
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let again = api.delete("t1", "/v1/users/u1").await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(
        again.content_type.as_deref(),
        Some("application/problem+json")
    );
}

#[tokio::test]
async fn user_fields_are_validated_with_their_paths() {
    let api = Api::new();
    let reply = api
        .put(
            "t1",
            "/v1/users/u1",
            json!({
                "locale": "en_US",
                "time_zone": "Berlin",
                "email": "not-an-email",
                "phone": "010-1234-5678",
                "quiet_hours": {"start_minute": 1440, "end_minute": 60}
            }),
        )
        .await;
    reply.assert_invalid(&[
        "/locale",
        "/time_zone",
        "/email",
        "/phone",
        "/quiet_hours/start_minute",
    ]);

    let same = api
        .put(
            "t1",
            "/v1/users/u1",
            json!({"quiet_hours": {"start_minute": 60, "end_minute": 60}}),
        )
        .await;
    same.assert_invalid(&["/quiet_hours/end_minute"]);

    let negative = api
        .put(
            "t1",
            "/v1/users/u1",
            json!({"quiet_hours": {"start_minute": -1, "end_minute": 60}}),
        )
        .await;
    negative.assert_invalid(&["/quiet_hours/start_minute"]);

    let unknown = api
        .put("t1", "/v1/users/u1", json!({"nickname": "kim"}))
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nickname")),
        "{unknown:?}"
    );

    let malformed = api.put_raw("t1", "/v1/users/u1", "{\"email\": ").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);

    let long_id = format!("/v1/users/{}", "x".repeat(129));
    api.put("t1", &long_id, json!({}))
        .await
        .assert_invalid(&["user_id"]);
    api.get("t1", "/v1/users/a%01b")
        .await
        .assert_invalid(&["user_id"]);
    api.get("t1", "/v1/users/%20")
        .await
        .assert_invalid(&["user_id"]);

    // Nothing was stored by the refused requests.
    api.get("t1", "/v1/users/u1")
        .await
        .assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn users_page_with_a_cursor() {
    let api = Api::new();
    for i in 0..12 {
        api.user("t1", &format!("user-{i}")).await;
    }
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut uri = "/v1/users?limit=5".to_owned();
    loop {
        let page = api.get("t1", &uri).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let items = page.body["items"].as_array().expect("items").clone();
        sizes.push(items.len());
        seen.extend(
            items
                .iter()
                .map(|u| u["user_id"].as_str().expect("id").to_owned()),
        );
        match page.body["next"].as_str() {
            Some(next) => uri = format!("/v1/users?limit=5&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(sizes, [5, 5, 2]);
    seen.sort();
    let mut expected: Vec<String> = (0..12).map(|i| format!("user-{i}")).collect();
    expected.sort();
    assert_eq!(seen, expected);

    let default = api.get("t1", "/v1/users").await;
    assert_eq!(default.body["items"].as_array().map(Vec::len), Some(12));
    assert!(default.body["next"].is_null());

    for bad in ["limit=0", "limit=501", "limit=ten"] {
        api.get("t1", &format!("/v1/users?{bad}"))
            .await
            .assert_invalid(&["limit"]);
    }
    api.get("t1", "/v1/users?cursor=bogus")
        .await
        .assert_invalid(&["cursor"]);
    api.get("t1", "/v1/users?page=2")
        .await
        .assert_invalid(&["page"]);
}

//! Accepting, deduplicating, validating and isolating.

use super::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn accepted_request_is_on_the_topic_keyed_tenant_user() {
    let gw = gateway(None).await;
    let app = gw.app(None).await;
    let (status, body) = gw
        .notify(Some(&basic(&app)), &[], notification("user-7"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let event_id = body["event_id"].as_str().expect("event id").to_owned();
    assert_eq!(body["status"], "accepted");

    let seen = consume_until(&gw.requests_consumer(), std::slice::from_ref(&event_id)).await;
    let (key, record) = seen
        .iter()
        .find(|(_, r)| r.event_id.to_string() == event_id)
        .expect("record");
    assert_eq!(key, &format!("{}:user-7", app.tenant_id));
    assert_eq!(record.tenant, app.tenant_id);
    assert_eq!(record.user_id, "user-7");
    assert_eq!(record.category, "security");
    assert_eq!(
        record
            .content
            .as_ref()
            .and_then(|c| c.sms.as_ref())
            .map(|s| s.text.as_str()),
        Some("Your code is 123456")
    );

    // the batch endpoint: one result per item, bad items do not stop good ones
    let batch = json!({"items": [notification("user-8"), {"user_id": "", "category": "x"}, notification("user-9")]});
    let (status, body) = gw
        .call(
            "POST",
            "/v1/notifications/batch",
            Some(basic(&app)),
            &[],
            Some(batch),
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(
        results
            .iter()
            .map(|r| r["status"].as_u64().unwrap_or(0))
            .collect::<Vec<_>>(),
        vec![202, 422, 202]
    );
    assert!(
        results[1]["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .any(|e| e["field"] == "/items/1/user_id"),
        "{body}"
    );
    let ids: Vec<String> = [&results[0], &results[2]]
        .iter()
        .map(|r| r["event_id"].as_str().expect("id").to_owned())
        .collect();
    consume_until(&gw.requests_consumer(), &ids).await;
    gw.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn repeated_and_racing_idempotency_keys_produce_once() {
    let gw = gateway(None).await;
    let auth = gw.basic_auth().await;

    let headers = [("Idempotency-Key", "order-1234-shipped")];
    let (first_status, first) = gw.notify(Some(&auth), &headers, notification("u1")).await;
    assert_eq!(first_status, StatusCode::ACCEPTED, "{first}");
    let (again_status, again) = gw.notify(Some(&auth), &headers, notification("u1")).await;
    assert_eq!(again_status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(again["duplicate"], true);
    // the same key for another request is a conflict, not a silent replay
    let (conflict, _) = gw.notify(Some(&auth), &headers, notification("u2")).await;
    assert_eq!(conflict, StatusCode::CONFLICT);

    // ten identical requests racing on a fresh key
    let race_headers = [("Idempotency-Key", "race-1")];
    let calls = (0..10).map(|_| gw.notify(Some(&auth), &race_headers, notification("u3")));
    let answers = futures::future::join_all(calls).await;
    let accepted: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .map(|(_, b)| b)
        .collect();
    assert!(!accepted.is_empty(), "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(s, _)| *s == StatusCode::ACCEPTED || *s == StatusCode::CONFLICT),
        "{answers:?}"
    );
    let race_id = accepted[0]["event_id"].as_str().expect("id").to_owned();
    assert!(accepted.iter().all(|b| b["event_id"] == race_id.as_str()));

    // a sentinel after them: once it is read, everything before it on its partition was too
    let (_, sentinel) = gw.notify(Some(&auth), &[], notification("u1")).await;
    let (_, sentinel3) = gw.notify(Some(&auth), &[], notification("u3")).await;
    let ids = [
        sentinel["event_id"].as_str().expect("id").to_owned(),
        sentinel3["event_id"].as_str().expect("id").to_owned(),
    ];
    let seen = consume_until(&gw.requests_consumer(), &ids).await;
    let first_id = first["event_id"].as_str().expect("id");
    assert_eq!(
        seen.iter()
            .filter(|(_, r)| r.event_id.to_string() == first_id)
            .count(),
        1,
        "repeated key produced twice"
    );
    assert_eq!(
        seen.iter()
            .filter(|(_, r)| r.event_id.to_string() == race_id)
            .count(),
        1,
        "racing key produced more than once"
    );
    gw.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn bad_input_gets_a_problem_with_the_field_path() {
    let gw = gateway(None).await;
    let auth = gw.basic_auth().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"user_id": "u", "category": "c", "content": {"sms": {"text": "hi"}}, "colour": "red"}),
            "/colour",
        ),
        (
            json!({"user_id": "u", "category": "c", "content": {"sms": {"text": "€".repeat(2000)}}}),
            "/content/sms",
        ),
        (
            json!({"user_id": "u", "category": "c", "content": {"push": {"title": "t", "body": "b".repeat(5000)}}}),
            "/content/push",
        ),
        (
            json!({"user_id": "u", "category": "c", "content": {"sms": {"text": "hi"}}, "send_at": "2999-01-01T00:00:00Z"}),
            "/send_at",
        ),
        (
            json!({"user_id": "u", "category": "c", "content": {"sms": {"text": "hi"}}, "send_at": "2030-01-02T00:00:00Z", "expires_at": "2030-01-01T00:00:00Z"}),
            "/expires_at",
        ),
        (json!({"user_id": "u", "category": "c"}), ""),
        (
            json!({"user_id": "u", "category": "c", "priority": "urgent", "content": {"sms": {"text": "hi"}}}),
            "/priority",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = gw.notify(Some(&auth), &[], body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {problem}"
        );
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{body}: wanted {field:?} in {fields:?}"
        );
    }
    // malformed JSON is a 400, an oversized body a 413, both as problem documents
    let request = Request::post("/v1/notifications")
        .header(header::AUTHORIZATION, &auth)
        .body(Body::from("{\"user_id\": "))
        .expect("request");
    let response = gw.app.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let huge =
        json!({"user_id": "u", "category": "c", "content": {"sms": {"text": "x".repeat(200_000)}}});
    let (status, _) = gw.notify(Some(&auth), &[], huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // recipients registered through the admin API are checked too
    let subscription = json!({"platform": "webpush", "subscription": {"endpoint": "http://push.example.com/x", "keys": {"p256dh": "AAAA", "auth": "AAAA"}}});
    for (method, path, body) in [
        (
            "PUT",
            "/v1/users/u1",
            json!({"phone": "0301234567", "email": "not-an-email"}),
        ),
        (
            "POST",
            "/v1/users/u1/devices",
            json!({"platform": "apns", "token": "xyz"}),
        ),
        ("POST", "/v1/users/u1/devices", subscription),
    ] {
        let auth = Some(auth.clone());
        let (status, problem) = gw.call(method, path, auth, &[], Some(body)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {path}: {problem}"
        );
    }
    gw.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn tenants_cannot_see_or_touch_each_other() {
    let gw = gateway(None).await;
    let a = Some(gw.basic_auth().await);
    let b = Some(gw.basic_auth().await);

    let (status, _) = gw
        .call(
            "PUT",
            "/v1/users/alice",
            a.clone(),
            &[],
            Some(json!({"email": "alice@example.com", "time_zone": "Europe/Berlin"})),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (status, _) = gw
        .call(
            "PUT",
            "/v1/categories/security",
            a.clone(),
            &[],
            Some(json!({"critical": true})),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (_, accepted) = gw.notify(a.as_deref(), &[], notification("alice")).await;
    let event_id = accepted["event_id"].as_str().expect("id");

    for path in [
        "/v1/users/alice",
        "/v1/categories/security",
        &format!("/v1/notifications/{event_id}"),
    ] {
        let (status, _) = gw.call("GET", path, b.clone(), &[], None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "B read {path}");
    }
    let (status, _) = gw
        .call("DELETE", "/v1/users/alice", b.clone(), &[], None)
        .await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::NO_CONTENT,
        "{status}"
    );
    let (status, body) = gw
        .call("GET", "/v1/users/alice", a.clone(), &[], None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "A's user survived B's delete: {body}"
    );
    assert_eq!(body["email"], "alice@example.com");
    let (_, listed) = gw.call("GET", "/v1/users", b.clone(), &[], None).await;
    assert!(
        !listed.to_string().contains("alice"),
        "B lists A's user: {listed}"
    );
    gw.drop_keyspace().await;
}

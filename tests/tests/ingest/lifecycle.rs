//! Outages, shutdown and the published API description.

use super::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn with_the_broker_down_nothing_gets_a_2xx() {
    // a loopback port nothing listens on: the broker is down
    let gw = gateway(Some("127.0.0.1:1")).await;
    let auth = Some(gw.basic_auth().await);
    let (status, body) = gw.notify(auth.as_deref(), &[], notification("u")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["retry_after_s"].as_u64().is_some_and(|s| s >= 1));
    let (status, body) = gw
        .call(
            "POST",
            "/v1/notifications",
            auth.clone(),
            &[("Idempotency-Key", "k-down")],
            Some(notification("u")),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let batch = json!({"items": [notification("a"), notification("b")]});
    let (status, body) = gw
        .call(
            "POST",
            "/v1/notifications/batch",
            auth.clone(),
            &[],
            Some(batch),
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert!(
        body["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|r| r["status"] == 503),
        "{body}"
    );
    let (status, body) = gw.call("GET", "/readyz", None, &[], None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    // which dependency failed, and why, is in the log and the metrics, not in the answer
    assert_eq!(body, serde_json::json!({"status": "not_ready"}), "{body}");
    gw.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn shutdown_under_load_loses_nothing_acknowledged() {
    let gw = gateway(None).await;
    let auth = gw.basic_auth().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = notify_common::Shutdown::new();
    let server = tokio::spawn(notify_ingest::stage::serve(
        listener,
        gw.state.clone(),
        shutdown.clone(),
        Duration::from_secs(10),
    ));

    let client = reqwest::Client::new();
    let url = format!("http://{addr}/v1/notifications");
    let sends = (0..300).map(|i| {
        let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
        async move {
            let response = client
                .post(&url)
                .header("authorization", auth)
                .json(&notification(&format!("u{}", i % 17)))
                .send()
                .await;
            match response {
                Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED => {
                    let body: Value = r.json().await.expect("json");
                    Some(body["event_id"].as_str().expect("id").to_owned())
                }
                _ => None,
            }
        }
    });
    let stopper = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        shutdown.cancel();
    };
    let (answers, ()) = tokio::join!(futures::future::join_all(sends), stopper);
    server.await.expect("server task").expect("serve");
    let acknowledged: Vec<String> = answers.into_iter().flatten().collect();
    assert!(
        !acknowledged.is_empty(),
        "nothing was acknowledged before shutdown"
    );
    let seen = consume_until(&gw.requests_consumer(), &acknowledged).await;
    for id in &acknowledged {
        assert!(
            seen.iter().any(|(_, r)| &r.event_id.to_string() == id),
            "acknowledged {id} missing from Kafka"
        );
    }
    eprintln!(
        "{} of 300 requests acknowledged before shutdown, all on the topic",
        acknowledged.len()
    );
    gw.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn openapi_document_matches_the_routes() {
    let gw = gateway(None).await;
    let (status, doc) = gw.call("GET", "/openapi.json", None, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    for expected in [
        "/v1/notifications",
        "/v1/notifications/batch",
        "/v1/notifications/{event_id}",
        "/v1/users",
        "/v1/users/{user_id}",
        "/v1/users/{user_id}/devices",
        "/v1/users/{user_id}/devices/{device_id}",
        "/v1/users/{user_id}/preferences",
        "/v1/templates",
        "/v1/templates/{template_id}",
        "/v1/categories",
        "/v1/categories/{category_id}",
        "/healthz",
        "/readyz",
    ] {
        assert!(
            paths.contains_key(expected),
            "{expected} missing from the document"
        );
    }
    // every documented operation exists on the server: without credentials it is 401 (tenant
    // routes) or answered (public ones), never 404 or 405
    for (path, item) in paths {
        let concrete = path
            .replace("{event_id}", "00000000-0000-0000-0000-000000000000")
            .replace('{', "x")
            .replace('}', "");
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_some() {
                let (status, _) = gw
                    .call(&method.to_uppercase(), &concrete, None, &[], None)
                    .await;
                assert!(
                    status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} documented but answers {status}"
                );
            }
        }
    }
    gw.drop_keyspace().await;
}

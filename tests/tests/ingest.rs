//! The ingest gateway against the real stack: its router is driven in-process, its Kafka and
//! Cassandra are the real ones `scripts/stack` runs (a broker that is down is a real dead port).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use http_body_util::BodyExt;
use jsonwebtoken::{EncodingKey, Header};
use notify_common::config::Config;
use notify_common::kafka::{self};
use notify_common::topics::{TopicSpec, Topics};
use notify_ingest::auth::provision::{create_app, create_tenant, IssuedApp};
use notify_ingest::auth::secrets::SecretsKey;
use notify_ingest::server::build_state;
use notify_it::{kafka_config, store_config, unique};
use notify_schemas::{Codec, NotificationRequest};
use notify_store::tenants::{CassandraTenants, JwtKey};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::Message;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Gateway {
    app: Router,
    state: notify_ingest::state::AppState,
    config: Config,
    tenants: Arc<CassandraTenants>,
    secrets_key: SecretsKey,
    session: Arc<scylla::client::session::Session>,
    _key_dir: tempdir::Dir,
}

mod tempdir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A gateway on a fresh keyspace and topic prefix; `brokers` overrides the Kafka address.
async fn gateway(brokers: Option<&str>) -> Gateway {
    let mut config = Config {
        kafka: kafka_config(),
        store: store_config(),
        ..Config::default()
    };
    config.ingest.produce_timeout_ms = 3_000;
    let key_dir = std::env::temp_dir().join(unique("notify-it-key"));
    std::fs::create_dir_all(&key_dir).expect("key dir");
    let key_hex: String = (0..32)
        .map(|i| format!("{:02x}", (i * 7 + 3) as u8))
        .collect();
    let key_file = key_dir.join("secrets.key");
    std::fs::write(&key_file, &key_hex).expect("key file");
    config.ingest.secrets_key_file = Some(key_file);

    let session = Arc::new(notify_store::connect(&config.store).await.expect("connect"));
    notify_store::migrate(&session, &config.store)
        .await
        .expect("migrate");
    if brokers.is_none() {
        let admin = kafka::admin(&config.kafka, "it").expect("admin");
        let spec = TopicSpec {
            name: Topics::new(&config.kafka.topic_prefix).requests(),
            partitions: 3,
            config: vec![],
        };
        kafka::ensure_topics(&admin, &[spec], 1, Duration::from_secs(30))
            .await
            .expect("topic");
    } else if let Some(brokers) = brokers {
        config.kafka.brokers = brokers.to_owned();
    }
    let state = build_state(&config).await.expect("gateway state");
    let tenants = Arc::new(
        CassandraTenants::new(session.clone(), &config.store.keyspace)
            .await
            .expect("tenants"),
    );
    Gateway {
        app: notify_ingest::routes::router(state.clone()),
        state,
        config,
        tenants,
        secrets_key: SecretsKey::from_hex(&key_hex).expect("key"),
        session,
        _key_dir: tempdir::Dir(key_dir),
    }
}

impl Gateway {
    async fn app(&self, jwt: Option<JwtKey>) -> IssuedApp {
        let tenant = create_tenant(self.tenants.as_ref(), "it tenant")
            .await
            .expect("tenant");
        create_app(
            self.tenants.as_ref(),
            &tenant.tenant_id,
            jwt,
            Some(&self.secrets_key),
        )
        .await
        .expect("app")
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<String>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .expect("request");
        let response = self.app.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    async fn drop_keyspace(&self) {
        let keyspace = &self.config.store.keyspace;
        self.session
            .query_unpaged(format!("DROP KEYSPACE {keyspace}"), ())
            .await
            .expect("drop keyspace");
    }

    fn requests_consumer(&self) -> StreamConsumer {
        let topic = Topics::new(&self.config.kafka.topic_prefix).requests();
        kafka::consumer(&self.config.kafka, "it", &unique("it-group"), &[&topic]).expect("consumer")
    }
}

fn basic(app: &IssuedApp) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", app.app_key, app.secret.expose()))
    )
}

fn notification(user: &str) -> Value {
    json!({
        "user_id": user,
        "category": "security",
        "priority": "high",
        "channels": ["sms", "email"],
        "content": {
            "sms": {"text": "Your code is 123456"},
            "email": {"subject": "Your code", "text": "Your code is 123456"}
        }
    })
}

/// Reads records until every id in `wanted` was seen (or 60 s passed); returns them all.
async fn consume_until(
    consumer: &StreamConsumer,
    wanted: &[String],
) -> Vec<(String, NotificationRequest)> {
    let codec = Codec::<NotificationRequest>::new().expect("codec");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !wanted.iter().all(|id| {
        seen.iter()
            .any(|(_, r): &(String, NotificationRequest)| &r.event_id.to_string() == id)
    }) {
        let Ok(message) = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "records {wanted:?} not all seen within 60 s; saw {}",
                    seen.len()
                )
            })
        else {
            // a topic created moments ago may not be known to the consumer yet
            continue;
        };
        let key = String::from_utf8_lossy(message.key().expect("key")).into_owned();
        seen.push((
            key,
            codec
                .decode(message.payload().expect("payload"))
                .expect("decode"),
        ));
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn accepted_request_is_on_the_topic_keyed_tenant_user() {
    let gw = gateway(None).await;
    let app = gw.app(None).await;
    let (status, body) = gw
        .call(
            "POST",
            "/v1/notifications",
            Some(basic(&app)),
            &[],
            Some(notification("user-7")),
        )
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
    let app = gw.app(None).await;
    let auth = basic(&app);

    let headers = [("Idempotency-Key", "order-1234-shipped")];
    let (first_status, first) = gw
        .call(
            "POST",
            "/v1/notifications",
            Some(auth.clone()),
            &headers,
            Some(notification("u1")),
        )
        .await;
    assert_eq!(first_status, StatusCode::ACCEPTED, "{first}");
    let (again_status, again) = gw
        .call(
            "POST",
            "/v1/notifications",
            Some(auth.clone()),
            &headers,
            Some(notification("u1")),
        )
        .await;
    assert_eq!(again_status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(again["duplicate"], true);
    // the same key for another request is a conflict, not a silent replay
    let (conflict, _) = gw
        .call(
            "POST",
            "/v1/notifications",
            Some(auth.clone()),
            &headers,
            Some(notification("u2")),
        )
        .await;
    assert_eq!(conflict, StatusCode::CONFLICT);

    // ten identical requests racing on a fresh key
    let race_headers = [("Idempotency-Key", "race-1")];
    let calls = (0..10).map(|_| {
        gw.call(
            "POST",
            "/v1/notifications",
            Some(auth.clone()),
            &race_headers,
            Some(notification("u3")),
        )
    });
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
    let (_, sentinel) = gw
        .call(
            "POST",
            "/v1/notifications",
            Some(auth.clone()),
            &[],
            Some(notification("u1")),
        )
        .await;
    let (_, sentinel3) = gw
        .call(
            "POST",
            "/v1/notifications",
            Some(auth.clone()),
            &[],
            Some(notification("u3")),
        )
        .await;
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
    let app = gw.app(None).await;
    let auth = Some(basic(&app));
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
        let (status, problem) = gw
            .call(
                "POST",
                "/v1/notifications",
                auth.clone(),
                &[],
                Some(body.clone()),
            )
            .await;
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
        .header(header::AUTHORIZATION, basic(&app))
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
    let (status, _) = gw
        .call("POST", "/v1/notifications", auth.clone(), &[], Some(huge))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // recipients registered through the admin API are checked too
    let (status, problem) = gw
        .call(
            "PUT",
            "/v1/users/u1",
            auth.clone(),
            &[],
            Some(json!({"phone": "0301234567", "email": "not-an-email"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = gw
        .call(
            "POST",
            "/v1/users/u1/devices",
            auth.clone(),
            &[],
            Some(json!({"platform": "apns", "token": "xyz"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let subscription = json!({"platform": "webpush", "subscription": {"endpoint": "http://push.example.com/x", "keys": {"p256dh": "AAAA", "auth": "AAAA"}}});
    let (status, _) = gw
        .call(
            "POST",
            "/v1/users/u1/devices",
            auth.clone(),
            &[],
            Some(subscription),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    gw.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn tenants_cannot_see_or_touch_each_other() {
    let gw = gateway(None).await;
    let a = Some(basic(&gw.app(None).await));
    let b = Some(basic(&gw.app(None).await));

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
    let (_, accepted) = gw
        .call(
            "POST",
            "/v1/notifications",
            a.clone(),
            &[],
            Some(notification("alice")),
        )
        .await;
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

fn jwt(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    format!(
        "Bearer {}",
        jsonwebtoken::encode(header, claims, key).expect("sign")
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn auth_attacks_are_refused() {
    let gw = gateway(None).await;
    let signing = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let public_pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("public pem");
    let private_pem = signing.to_pkcs8_pem(LineEnding::LF).expect("private pem");
    let es = gw
        .app(Some(JwtKey::Es256 {
            public_key_pem: public_pem.clone(),
        }))
        .await;
    let hs = gw.app(Some(JwtKey::Hs256)).await;
    let now = i64::try_from(jsonwebtoken::get_current_timestamp()).expect("now");
    let claims = |iss: &str, aud: &str, exp: i64| json!({"iss": iss, "aud": aud, "iat": now - 5, "exp": exp});
    let es_key = EncodingKey::from_ec_pem(private_pem.as_bytes()).expect("es key");
    let hs_key = EncodingKey::from_secret(hs.secret.expose().as_bytes());
    let es256 = Header::new(jsonwebtoken::Algorithm::ES256);
    let hs256 = Header::new(jsonwebtoken::Algorithm::HS256);

    // the good ones work, so the refusals below are about the attack, not the set-up
    for auth in [
        jwt(&es256, &claims(&es.app_key, "notify", now + 300), &es_key),
        jwt(&hs256, &claims(&hs.app_key, "notify", now + 300), &hs_key),
        basic(&hs),
    ] {
        let (status, body) = gw
            .call(
                "POST",
                "/v1/notifications",
                Some(auth),
                &[],
                Some(notification("u")),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }

    let unsigned = format!(
        "Bearer {}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(&es.app_key, "notify", now + 300).to_string())
    );
    let attacks = [
        ("no credentials", None),
        (
            "wrong secret",
            Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{}:as_wrong", hs.app_key))
            )),
        ),
        (
            "unknown app",
            Some(format!("Basic {}", STANDARD.encode("ak_nobody:as_nothing"))),
        ),
        ("alg none", Some(unsigned)),
        (
            "HS256 keyed with the ES256 public key",
            Some(jwt(
                &hs256,
                &claims(&es.app_key, "notify", now + 300),
                &EncodingKey::from_secret(public_pem.as_bytes()),
            )),
        ),
        (
            "expired",
            Some(jwt(
                &es256,
                &claims(&es.app_key, "notify", now - 600),
                &es_key,
            )),
        ),
        (
            "wrong audience",
            Some(jwt(
                &es256,
                &claims(&es.app_key, "someone-else", now + 300),
                &es_key,
            )),
        ),
        ("garbage", Some("Bearer abc.def.ghi".to_owned())),
    ];
    for (name, auth) in attacks {
        let (status, body) = gw
            .call(
                "POST",
                "/v1/notifications",
                auth,
                &[],
                Some(notification("u")),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
    }
    gw.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn with_the_broker_down_nothing_gets_a_2xx() {
    // a loopback port nothing listens on: the broker is down
    let gw = gateway(Some("127.0.0.1:1")).await;
    let app = gw.app(None).await;
    let auth = Some(basic(&app));
    let (status, body) = gw
        .call(
            "POST",
            "/v1/notifications",
            auth.clone(),
            &[],
            Some(notification("u")),
        )
        .await;
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
    assert_eq!(body["database"], "ok");
    gw.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn shutdown_under_load_loses_nothing_acknowledged() {
    let gw = gateway(None).await;
    let app = gw.app(None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = notify_common::Shutdown::new();
    let server = tokio::spawn(notify_ingest::server::serve(
        listener,
        gw.state.clone(),
        shutdown.clone(),
        Duration::from_secs(10),
    ));

    let client = reqwest::Client::new();
    let url = format!("http://{addr}/v1/notifications");
    let auth = basic(&app);
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

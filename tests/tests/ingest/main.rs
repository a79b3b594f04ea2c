//! The ingest gateway against the real stack: its router is driven in-process, its Kafka and
//! Cassandra are the real ones `scripts/stack` runs (a broker that is down is a real dead port).
//!
//! `main.rs` holds the harness; the tests are grouped by concern in the modules below.

mod auth;
mod flows;
mod lifecycle;

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
use notify_ingest::stage::build_state;
use notify_it::{kafka_config, read_until, store_config, unique, Scratch, Seen};
use notify_schemas::{Codec, NotificationRequest};
use notify_store::tenants::{CassandraTenants, JwtKey, Scopes};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rdkafka::consumer::StreamConsumer;
use serde_json::{json, Value};
use tower::ServiceExt;

pub(crate) struct Gateway {
    pub(crate) app: Router,
    pub(crate) state: notify_ingest::state::AppState,
    pub(crate) config: Config,
    pub(crate) tenants: Arc<CassandraTenants>,
    pub(crate) secrets_key: SecretsKey,
    pub(crate) session: Arc<scylla::client::session::Session>,
    pub(crate) _key_dir: tempdir::Dir,
    /// Last, so it removes the topics and keyspace after everything else is closed.
    _scratch: Scratch,
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
pub(crate) async fn gateway(brokers: Option<&str>) -> Gateway {
    // boxed: the start-up holds a whole Config, which makes a large future
    Box::pin(start_gateway(brokers)).await
}

async fn start_gateway(brokers: Option<&str>) -> Gateway {
    let mut config = Config {
        kafka: kafka_config(),
        store: store_config(),
        ..Config::default()
    };
    config.ingest.produce_timeout_ms = 3_000;
    let scratch = Scratch::new(&config.kafka, &config.store);
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
        _scratch: scratch,
    }
}

impl Gateway {
    pub(crate) async fn app(&self, jwt: Option<JwtKey>) -> IssuedApp {
        let tenant = create_tenant(self.tenants.as_ref(), "it tenant")
            .await
            .expect("tenant");
        create_app(
            self.tenants.as_ref(),
            &tenant.tenant_id,
            jwt,
            Scopes::ALL,
            Some(&self.secrets_key),
        )
        .await
        .expect("app")
    }

    /// The Basic authorization value of a new app, without a JWT key, of a new tenant.
    pub(crate) async fn basic_auth(&self) -> String {
        basic(&self.app(None).await)
    }

    pub(crate) async fn call(
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

    /// `POST /v1/notifications` of `body` with `auth` and `headers`.
    pub(crate) async fn notify(
        &self,
        auth: Option<&str>,
        headers: &[(&str, &str)],
        body: Value,
    ) -> (StatusCode, Value) {
        let auth = auth.map(str::to_owned);
        self.call("POST", "/v1/notifications", auth, headers, Some(body))
            .await
    }

    pub(crate) async fn drop_keyspace(&self) {
        let keyspace = &self.config.store.keyspace;
        self.session
            .query_unpaged(format!("DROP KEYSPACE {keyspace}"), ())
            .await
            .expect("drop keyspace");
    }

    pub(crate) fn requests_consumer(&self) -> StreamConsumer {
        let topic = Topics::new(&self.config.kafka.topic_prefix).requests();
        kafka::consumer(&self.config.kafka, "it", &unique("it-group"), &[&topic]).expect("consumer")
    }
}

pub(crate) fn basic(app: &IssuedApp) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", app.app_key, app.secret.expose()))
    )
}

pub(crate) fn notification(user: &str) -> Value {
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
pub(crate) async fn consume_until(
    consumer: &StreamConsumer,
    wanted: &[String],
) -> Vec<(String, NotificationRequest)> {
    let codec = Codec::<NotificationRequest>::new().expect("codec");
    let decode = |seen: &Seen| {
        let request = codec.decode(&seen.value).expect("decode");
        (String::from_utf8_lossy(&seen.key).into_owned(), request)
    };
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let all_in = |seen: &[Seen]| {
        let requests: Vec<_> = seen.iter().map(decode).collect();
        wanted
            .iter()
            .all(|id| requests.iter().any(|(_, r)| &r.event_id.to_string() == id))
            .then_some(requests)
    };
    read_until(consumer, &mut seen, deadline, all_in)
        .await
        .unwrap_or_else(|| {
            panic!(
                "records {wanted:?} not all seen within 60 s; saw {}",
                seen.len()
            )
        })
}

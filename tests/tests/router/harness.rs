//! Harness of the router's real-stack tests: a fresh keyspace and topic prefix per test, a
//! tenant, directory helpers, and a router run in-process until the records a test waits for
//! appear on the real output topics. Shared by the `router` and `outage` test binaries.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use notify_common::clock::now_ms;
use notify_common::config::Config;
use notify_common::kafka;
use notify_common::topics::Topics;
use notify_ingest::auth::provision::create_tenant;
pub use notify_it::Seen;
use notify_it::{kafka_config, produce, provision, read_until, store_config, unique, Scratch};
use notify_schemas::{
    samples, Channel, Codec, Delivery, DeliveryStatus, InlineContent, NotificationRequest,
    Priority, SmsContent, Uuid,
};
use notify_store::directory::{PushTarget, User};
use notify_store::settings::{CassandraSettings, SettingsStore, TenantSettings};
use notify_store::tenants::CassandraTenants;
use notify_store::{CassandraDirectory, Directory};
use rdkafka::consumer::StreamConsumer;
use tokio_util::sync::CancellationToken;

pub struct World {
    pub config: Config,
    pub topics: Topics,
    pub directory: CassandraDirectory,
    pub tenant: String,
    pub session: Arc<scylla::client::session::Session>,
    /// Last, so it removes the topics and keyspace after everything else is closed.
    _scratch: Scratch,
}

pub async fn world() -> World {
    let mut config = Config {
        kafka: kafka_config(),
        store: store_config(),
        ..Config::default()
    };
    config.router.group_id = unique("it-router");
    config.router.cache_ttl_ms = 200;
    let scratch = Scratch::new(&config.kafka, &config.store);
    let session = provision(&config, 2).await;
    let tenants = CassandraTenants::new(session.clone(), &config.store.keyspace)
        .await
        .expect("tenants");
    let tenant = create_tenant(&tenants, "router it")
        .await
        .expect("tenant")
        .tenant_id;
    let directory = CassandraDirectory::new(session.clone(), &config.store.keyspace)
        .await
        .expect("directory");
    World {
        topics: Topics::new(&config.kafka.topic_prefix),
        _scratch: scratch,
        config,
        directory,
        tenant,
        session,
    }
}

impl World {
    pub async fn user(&self, user_id: &str, opted_out: bool) {
        let user = User {
            user_id: user_id.into(),
            locale: Some("ko-KR".into()),
            time_zone: Some("UTC".into()),
            email: Some(format!("{user_id}@example.com")),
            phone: Some("+821012345678".into()),
            quiet_hours: None,
            opted_out,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        self.directory
            .put_user(&self.tenant, &user)
            .await
            .expect("user");
        let token = "a".repeat(64);
        self.directory
            .put_device(
                &self.tenant,
                user_id,
                &PushTarget::Apns { token },
                Some("com.example.app"),
            )
            .await
            .expect("device");
    }

    pub fn request(
        &self,
        user_id: &str,
        category: &str,
        channels: Vec<Channel>,
    ) -> NotificationRequest {
        let mut request = samples::minimal_request();
        request.tenant = self.tenant.clone();
        request.event_id = Uuid::new_v4();
        request.user_id = user_id.into();
        request.category = category.into();
        request.priority = Priority::High;
        request.channels = channels;
        request.created_at = now_ms();
        request.content = Some(InlineContent {
            push: Some(notify_schemas::PushContent {
                title: "Sign-in".into(),
                body: "A new sign-in".into(),
                data: BTreeMap::new(),
                image_url: None,
                click_url: None,
                sound: None,
                badge: None,
            }),
            sms: Some(SmsContent {
                text: "A new sign-in".into(),
            }),
            email: None,
        });
        request
    }

    /// Produces `payload` to the requests topic, keyed `key`.
    pub async fn publish(&self, key: &str, payload: &[u8]) {
        let producer = kafka::producer(&self.config.kafka, "it").expect("producer");
        produce(&producer, &self.topics.requests(), key, payload).await;
    }

    pub async fn send(&self, request: &NotificationRequest) {
        let payload = Codec::<NotificationRequest>::new()
            .expect("codec")
            .encode(request)
            .expect("encode");
        self.publish(&format!("{}:{}", request.tenant, request.user_id), &payload)
            .await;
    }

    pub fn consumer(&self, topics: &[String]) -> StreamConsumer {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        kafka::consumer(&self.config.kafka, "it", &unique("it-read"), &names).expect("consumer")
    }

    /// Runs a router until `done` says the collected records suffice (or 60 s pass).
    pub async fn route_until<T>(
        &self,
        read: &StreamConsumer,
        done: impl FnMut(&[Seen]) -> Option<T>,
    ) -> T {
        self.route_until_within(read, Duration::from_secs(60), done)
            .await
    }

    /// [`World::route_until`] with another time limit.
    pub async fn route_until_within<T>(
        &self,
        read: &StreamConsumer,
        limit: Duration,
        done: impl FnMut(&[Seen]) -> Option<T>,
    ) -> T {
        let running = self.start_router(notify_common::Health::new()).await;
        let mut seen = Vec::new();
        let result = collect_until(read, &mut seen, limit, done).await;
        running.stop().await;
        result
    }

    /// [`World::route_until`] deciding on the deliveries and statuses read so far; returns them.
    pub async fn route_until_outputs(
        &self,
        read: &StreamConsumer,
        mut done: impl FnMut(&[Delivery], &[DeliveryStatus]) -> bool,
    ) -> (Vec<Delivery>, Vec<DeliveryStatus>) {
        self.route_until(read, |seen| {
            let d = deliveries(seen, &self.topics);
            let s = statuses(seen, &self.topics);
            done(&d, &s).then_some((d, s))
        })
        .await
    }

    /// Starts a router (consumer loop and scheduler) in the background.
    pub async fn start_router(&self, health: notify_common::Health) -> RunningRouter {
        let parts = notify_router::stage::build(&self.config)
            .await
            .expect("router");
        let router = parts.router.with_health(health);
        let cancel = CancellationToken::new();
        let scheduler = tokio::spawn(parts.scheduler.run(cancel.clone()));
        let router = tokio::spawn({
            let cancel = cancel.clone();
            async move { router.run(cancel).await }
        });
        RunningRouter {
            cancel,
            router,
            scheduler,
        }
    }

    /// Stores the tenant's policy settings.
    pub async fn settings(&self, settings: &TenantSettings) {
        settings.validate().expect("valid settings");
        CassandraSettings::new(self.session.clone(), &self.config.store.keyspace)
            .await
            .expect("settings store")
            .put_settings(&self.tenant, settings)
            .await
            .expect("settings");
    }

    /// Drops the test's keyspace. After a database restart the test's own idle session may
    /// not have reconnected yet, so a failed drop is retried on fresh sessions for a while.
    pub async fn drop_keyspace(&self) {
        let drop = format!("DROP KEYSPACE IF EXISTS {}", self.config.store.keyspace);
        if self.session.query_unpaged(drop.clone(), ()).await.is_ok() {
            return;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let attempt = async {
                let session = notify_store::connect(&self.config.store)
                    .await
                    .map_err(|e| e.to_string())?;
                session
                    .query_unpaged(drop.clone(), ())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            };
            match attempt.await {
                Ok(()) => return,
                Err(err) if tokio::time::Instant::now() > deadline => panic!("drop: {err}"),
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }
}

/// A router running in the background.
pub struct RunningRouter {
    cancel: CancellationToken,
    router: tokio::task::JoinHandle<Result<(), notify_router::consumer::RouterError>>,
    scheduler: tokio::task::JoinHandle<Result<(), notify_router::scheduler::SchedulerError>>,
}

impl RunningRouter {
    /// Cancels both loops and waits for them; fails if either failed.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.router.await.expect("router task").expect("router run");
        self.scheduler
            .await
            .expect("scheduler task")
            .expect("scheduler run");
    }
}

/// Reads records into `seen` until `done` says they suffice; panics after `limit`.
pub async fn collect_until<T>(
    read: &StreamConsumer,
    seen: &mut Vec<Seen>,
    limit: Duration,
    done: impl FnMut(&[Seen]) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    match read_until(read, seen, deadline, done).await {
        Some(result) => result,
        None => {
            let topics: Vec<&str> = seen.iter().map(|s| s.topic.as_str()).collect();
            panic!(
                "expected records not seen within {} s: {} seen, on {topics:?}",
                limit.as_secs(),
                seen.len()
            )
        }
    }
}

pub fn deliveries(seen: &[Seen], topics: &Topics) -> Vec<Delivery> {
    let codec = Codec::<Delivery>::new().expect("codec");
    seen.iter()
        .filter(|s| {
            s.topic
                .starts_with(&format!("{}.deliveries.", topics_prefix(topics)))
        })
        .map(|s| codec.decode(&s.value).expect("delivery"))
        .collect()
}

/// Whether a delivery of every one of `requests` was read.
pub fn all_delivered(seen: &[Seen], topics: &Topics, requests: &[NotificationRequest]) -> bool {
    let d = deliveries(seen, topics);
    requests
        .iter()
        .all(|r| d.iter().any(|d| d.event_id == r.event_id))
}

pub fn statuses(seen: &[Seen], topics: &Topics) -> Vec<DeliveryStatus> {
    let codec = Codec::<DeliveryStatus>::new().expect("codec");
    seen.iter()
        .filter(|s| s.topic == topics.status())
        .map(|s| codec.decode(&s.value).expect("status"))
        .collect()
}

pub fn topics_prefix(topics: &Topics) -> String {
    topics.requests().trim_end_matches(".requests").to_owned()
}

pub fn all_outputs(topics: &Topics) -> Vec<String> {
    let mut names = vec![topics.status(), topics.dlq()];
    for channel in notify_common::topics::CHANNELS {
        names.push(topics.deliveries(channel));
        names.push(topics.deliveries_bulk(channel));
    }
    names
}

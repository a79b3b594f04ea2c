//! The whole pipeline in one process, for trying it: the ingest gateway, the router with its
//! scheduler, all five dispatchers with the retry movers, and every provider simulator, on
//! librdkafka's built-in mock cluster and in-memory stores seeded with a demo tenant
//! (`notify demo`).
//!
//! Guarantees: the stages are the production ones, built through the same constructors as
//! `notify ingest`, `notify router` and `notify dispatch` with in-memory implementations of the
//! same store traits (the in-memory directory passes the directory conformance suite); every
//! task runs under one [`Shutdown`], and [`Embedded::stop`] drains them.
//!
//! Not guaranteed: durability. Kafka is librdkafka's mock cluster, whose partitions forget their
//! oldest records past a few MiB ([`mock`]); the directory, notification log, schedule and
//! rate-limit records live in memory and are gone when the process ends. This mode is for
//! trying the system, not for production.

mod dispatch;
pub mod mock;
pub mod observe;
pub mod seed;
pub mod send;
pub mod summary;
mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify_common::clock::now_ms;
use notify_common::shutdown::Drained;
use notify_common::topics::layout;
use notify_common::{Config, Health, Shutdown};
use notify_dispatchers::stage::Stores as DispatchStores;
use notify_router::handler::PolicyStores;
use notify_schemas::registry::StageSchemas;
use notify_sim::suite::{SimSuite, SuiteSettings};
use notify_store::idempotency::MemoryLedger;
use notify_store::notification_log::MemoryLog;
use notify_store::ratelog::MemoryRateLog;
use notify_store::schedule::MemorySchedule;
use notify_store::settings::MemorySettings;
use notify_store::suppressions::MemorySuppressions;
use notify_store::tenants::MemoryTenants;
use notify_store::MemoryDirectory;
use tokio::net::TcpListener;

pub use mock::MockKafka;
pub use observe::Observer;
pub use seed::DemoTenant;
pub use send::SendSettings;
pub use summary::Summary;

/// How long a run waits, once every notification finished, for the provider receipts that
/// follow the sends (the Twilio and SendGrid simulators call back about 200 ms after accepting).
const RECEIPT_WAIT: Duration = Duration::from_secs(5);

/// Where a [`Embedded::send_and_summarize`] run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Sending the warm-up notifications (not counted) and waiting for them.
    WarmingUp,
    /// Sending: answers received, of which accepted.
    Sending {
        /// Requests answered.
        answered: usize,
        /// Notifications accepted.
        accepted: usize,
    },
    /// Everything is sent; waiting for final outcomes.
    Finishing {
        /// Accepted notifications with every outcome final.
        finished: usize,
        /// Accepted in all.
        accepted: usize,
    },
}

/// Why the embedded pipeline could not start or a demo run failed.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The mock cluster could not be started or a Kafka client not built.
    #[error("kafka: {0}")]
    Kafka(String),
    /// The provider simulators could not be started.
    #[error("simulators: {0}")]
    Simulators(String),
    /// The demo data could not be written.
    #[error("seeding the demo data: {0}")]
    Seed(String),
    /// A stage could not be built.
    #[error("{stage}: {reason}")]
    Stage {
        /// Which stage.
        stage: &'static str,
        /// Why.
        reason: String,
    },
    /// The API address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Sending the sample notifications failed.
    #[error("sending: {0}")]
    Send(String),
}

/// Where the embedded pipeline listens and keeps its simulator credentials.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address of the ingest API.
    pub listen: SocketAddr,
    /// Directory for the simulators' generated test credentials.
    pub sim_dir: PathBuf,
}

/// The running pipeline. Call [`Embedded::stop`] to drain it.
#[derive(Debug)]
pub struct Embedded {
    /// The configuration every stage was built from (brokers = the mock cluster).
    pub config: Config,
    /// Where the ingest API listens.
    pub api_addr: SocketAddr,
    /// The seeded tenant, app and users.
    pub tenant: DemoTenant,
    /// The provider simulators, with their ledgers.
    pub suite: SimSuite,
    /// The notification log: the dispatchers' dedup record, and the router's outcomes.
    pub delivery_log: Arc<MemoryLog>,
    /// Deferred requests (quiet hours, `send_at`).
    pub schedule: Arc<MemorySchedule>,
    /// The root of every task.
    pub shutdown: Shutdown,
    mock: MockKafka,
}

/// The configuration of the embedded mode: few partitions, no metrics listener, the
/// simulators as providers, shorter retry waits.
pub fn embedded_config(bootstrap: &str, providers: toml::Table, listen: SocketAddr) -> Config {
    let mut config = Config::default();
    config.kafka.brokers = bootstrap.to_owned();
    let p = &mut config.kafka.partitions;
    p.requests = 4;
    p.deliveries = 2;
    p.retry = 1;
    p.status = 2;
    p.dlq = 1;
    // the mock answers a fetch that finds no data only after the full wait (it is not woken
    // by new records), so every consumer hop would add up to librdkafka's 500 ms default;
    // producers ignore the property (librdkafka notes that once per client)
    config
        .kafka
        .client_properties
        .insert("fetch.wait.max.ms".into(), "20".into());
    config.ingest.listen_addr = listen;
    config.telemetry.metrics_addr = None;
    // a sender address providers accept (the default `notify@localhost` has no domain dot)
    config.router.email_from = "notify@demo.example.com".into();
    config.dispatch.providers = providers;
    config.dispatch.retry.backoff_base_ms = 1_000;
    config.shutdown.grace_period_ms = 10_000;
    config
}

fn stage_err(stage: &'static str) -> impl Fn(&dyn std::fmt::Display) -> EmbeddedError {
    move |err| EmbeddedError::Stage {
        stage,
        reason: err.to_string(),
    }
}

impl Embedded {
    /// Starts the simulators, the mock cluster, seeds the stores and starts every stage.
    pub async fn start(options: Options) -> Result<Self, EmbeddedError> {
        let begun = std::time::Instant::now();
        let suite = SimSuite::start(SuiteSettings::new(&options.sim_dir))
            .await
            .map_err(|e| EmbeddedError::Simulators(e.to_string()))?;
        let providers: toml::Table = suite
            .providers_toml()
            .parse()
            .map_err(|e: toml::de::Error| EmbeddedError::Simulators(e.to_string()))?;
        let mut config = embedded_config("", providers, options.listen);
        webhooks::prepare(&mut config, &options.sim_dir)?;
        tracing::debug!(
            elapsed_ms = begun.elapsed().as_millis(),
            "simulators started"
        );
        let mock = MockKafka::start(layout(&config.kafka))?;
        tracing::debug!(
            elapsed_ms = begun.elapsed().as_millis(),
            "mock cluster started"
        );
        config.kafka.brokers = mock.bootstrap_servers().to_owned();
        config.validate().map_err(|e| stage_err("config")(&e))?;

        let directory = Arc::new(MemoryDirectory::new());
        let tenants = Arc::new(MemoryTenants::new());
        let schedule = Arc::new(MemorySchedule::new());
        let delivery_log = Arc::new(MemoryLog::new());
        let suppressions = Arc::new(MemorySuppressions::new());
        let settings = Arc::new(MemorySettings::new());
        let hooks = Arc::new(notify_store::webhooks::MemoryWebhooks::new());
        let tenant = seed::seed(
            tenants.as_ref(),
            settings.as_ref(),
            directory.as_ref(),
            &suite.webpush,
            now_ms(),
        )
        .await?;

        tracing::debug!(elapsed_ms = begun.elapsed().as_millis(), "demo data seeded");
        let shutdown = Shutdown::new();
        let health = Health::new();
        let grace = Duration::from_millis(config.shutdown.grace_period_ms);

        let listener =
            TcpListener::bind(options.listen)
                .await
                .map_err(|source| EmbeddedError::Listen {
                    addr: options.listen,
                    source,
                })?;
        let api_addr = listener
            .local_addr()
            .map_err(|source| EmbeddedError::Listen {
                addr: options.listen,
                source,
            })?;
        // the Twilio, Vonage and SendGrid simulators call the gateway back with signed receipts
        for (provider, key, route) in [
            ("twilio", "status_callback_base", "twilio"),
            ("vonage", "delivery_receipt_url", "vonage"),
        ] {
            if let Some(toml::Value::Table(table)) = config.dispatch.providers.get_mut(provider) {
                table.insert(
                    key.into(),
                    format!("http://{api_addr}/v1/receipts/{route}").into(),
                );
            }
        }
        suite
            .sendgrid_events
            .set_url(Some(format!("http://{api_addr}/v1/receipts/sendgrid")));
        // email links are tracked through the gateway; the simulators' recipient opens and
        // clicks some of them
        config.links = demo_links(&options.sim_dir, api_addr)?;
        let state = notify_ingest::stage::build_state_with(
            &config,
            notify_ingest::stage::Stores {
                ledger: Arc::new(MemoryLedger::with_log(delivery_log.clone())),
                directory: directory.clone(),
                tenants: tenants.clone(),
                log: delivery_log.clone(),
                suppressions: suppressions.clone(),
                webhooks: hooks.clone(),
                settings: Some(settings.clone()),
            },
            &StageSchemas::default(),
        )
        .map_err(|e| stage_err("ingest")(&e))?;
        shutdown.spawn(
            "ingest",
            notify_ingest::stage::serve(listener, state, shutdown.clone(), grace),
        );

        let parts = notify_router::stage::build_with(
            &config,
            directory.clone(),
            PolicyStores {
                tenants: tenants.clone(),
                settings,
                rate_log: Arc::new(MemoryRateLog::new()),
                schedule: schedule.clone(),
                outcomes: delivery_log.clone(),
                suppressions: suppressions.clone(),
            },
            // the embedded mode writes single-object records and has no registry
            StageSchemas::default(),
        )
        .map_err(|e| stage_err("router")(&e))?;
        {
            let config = config.clone();
            let (shutdown_, health) = (shutdown.clone(), health.clone());
            shutdown.spawn("router", async move {
                notify_router::stage::run_parts(parts, &config, shutdown_, health).await
            });
        }

        let (log, suppressions) = (delivery_log.clone(), suppressions.clone());
        let stores = DispatchStores {
            log,
            directory,
            suppressions,
        };
        dispatch::start(&config, &shutdown, &health, &stores)?;
        webhooks::start(&config, &shutdown, &health, hooks)?;
        tracing::info!(api = %api_addr, "embedded pipeline started");
        Ok(Self {
            config,
            api_addr,
            tenant,
            suite,
            delivery_log,
            schedule,
            shutdown,
            mock,
        })
    }

    /// Sends `n` sample notifications through the API (see [`send`]), waits up to `timeout`
    /// for every accepted one to reach its final outcomes, and summarises the run. The
    /// summary's `finished` falls short of `accepted` when the wait ran out.
    ///
    /// Two warm-up notifications ([`send::warm_up`]) go first and are not counted: the mock
    /// cluster holds a new consumer group's first assignment back for a few seconds, which
    /// would otherwise show as the latency of the first notifications.
    pub async fn send_and_summarize(
        &self,
        n: usize,
        settings: SendSettings,
        timeout: Duration,
        mut progress: impl FnMut(Progress),
    ) -> Result<Summary, EmbeddedError> {
        let observer = Observer::start(&self.config)?;
        let base_url = format!("http://{}", self.api_addr);
        progress(Progress::WarmingUp);
        let warm = send::warm_up(&base_url, &self.tenant).await?;
        if observer.wait_finished(&warm, timeout, |_| {}).await > 0 {
            return Err(EmbeddedError::Send(format!(
                "the warm-up notifications did not finish within {} s",
                timeout.as_secs()
            )));
        }
        let accepted = send::send_mixed(
            &base_url,
            &self.tenant,
            n,
            settings,
            &observer,
            |answered, accepted| progress(Progress::Sending { answered, accepted }),
        )
        .await?;
        let events: Vec<_> = accepted.keys().copied().collect();
        observer
            .wait_finished(&events, timeout, |finished| {
                progress(Progress::Finishing {
                    finished,
                    accepted: events.len(),
                });
            })
            .await;
        // the Twilio and SendGrid simulators report delivery a moment after accepting
        observer
            .wait_receipts(&events, &["twilio", "sendgrid"], RECEIPT_WAIT)
            .await;
        // the simulated recipient reads a message a moment after it arrived
        tokio::time::sleep(notify_sim::recipient::READ_DELAY + Duration::from_millis(500)).await;
        let ledgers: Vec<_> = self
            .suite
            .ledgers()
            .iter()
            .flat_map(|(_, ledger)| ledger.entries())
            .collect();
        let tally = observer.tally();
        Ok(summary::summarize(&tally, &accepted, &ledgers))
    }

    /// The mock cluster's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> &str {
        self.mock.bootstrap_servers()
    }

    /// Stops every stage, waits for them up to the grace period, then stops the simulators and
    /// the mock cluster.
    pub async fn stop(self) -> Drained {
        self.shutdown.cancel();
        let drained = self
            .shutdown
            .drain(Duration::from_millis(self.config.shutdown.grace_period_ms))
            .await;
        drop(self.suite);
        drop(self.mock);
        drained
    }
}

/// `[links]` of the demo: links back to the embedded gateway, signed with a key made for this
/// run (written under the simulators' directory, readable by the owner only).
fn demo_links(
    dir: &std::path::Path,
    api: SocketAddr,
) -> Result<notify_common::config::LinksConfig, EmbeddedError> {
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let path = dir.join("links-key");
    let written = std::fs::write(&path, key).and_then(|()| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
    });
    written.map_err(|e| EmbeddedError::Simulators(format!("{}: {e}", path.display())))?;
    Ok(notify_common::config::LinksConfig {
        public_base_url: Some(format!("http://{api}")),
        keys: vec![notify_common::config::SecretConfig::File(path)],
        ..Default::default()
    })
}

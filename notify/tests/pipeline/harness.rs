//! One production-shaped pipeline per test: every stage is its own `notify` process (the debug
//! binary cargo built for this package), against the real Kafka and Cassandra of
//! `scripts/stack`, with the provider simulators of `notify sim` in place of the providers.
//!
//! [`Pipeline::start`] gives a test its own topic prefix, consumer groups and keyspace, runs
//! `notify migrate` and `notify topics create`, creates a tenant and an app, starts the
//! simulators and the ingest gateway; [`Pipeline::start_stages`] then starts the router and the
//! dispatchers. Every process writes its output to a log file under the run's directory; a test
//! that fails prints the tails of those logs ([`Pipeline::logs`]). Dropping the pipeline kills
//! every process it started, then its [`Scratch`] guard removes the run's topics and keyspace.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use notify_common::config::{KafkaConfig, StoreConfig};
use notify_it::{brokers, cassandra, unique, Scratch};

use crate::process::{field, free_addr, notify_output, Proc};

/// Dispatcher settings a test may change before [`Pipeline::start`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// Most provider sends one dispatcher has in flight (the kill -9 duplicate bound).
    pub max_in_flight: usize,
    /// Kafka consumer session timeout: how soon a killed member's partitions move on.
    pub session_timeout_ms: u64,
    /// Partitions of each deliveries topic (how far a channel can scale out).
    pub delivery_partitions: i32,
    /// A schema registry (its Confluent API URL): the schemas are registered at start and
    /// requests, deliveries and statuses are written Confluent-framed through it.
    pub registry: Option<String>,
    /// An OTLP/HTTP receiver every stage exports its spans to (all sampled).
    pub otlp: Option<String>,
    /// Provider receipts: Twilio status callbacks and SendGrid's Event Webhook to the gateway's
    /// receipt routes (the simulators call back).
    pub receipts: bool,
    /// Email goes out through the SMTP simulator alone (no SendGrid in front of it), and the
    /// gateway takes bounce messages at `/v1/receipts/smtp/dsn` with the secret in
    /// `<dir>/dsn-secret`.
    pub email_over_smtp: bool,
    /// Tracked links (`[links]` as for `links`), and the simulators' recipient opening and
    /// clicking every email.
    pub tracking: bool,
    /// Signed links back to the gateway (`[links]` pointing at it, key in `<dir>/links-key`):
    /// email carries `List-Unsubscribe`, templates get `preferences_url`, the gateway serves
    /// `/u/`, `/p/` and `/t/`.
    pub links: bool,
    /// Tenant webhooks: a secrets key for the gateway and the sender, loopback endpoints
    /// allowed, short retry pauses (`notify webhooks` is started by the test).
    pub webhooks: bool,
    /// The SMS provider tried first (`twilio`, or `vonage` with Twilio as the failover).
    pub sms_primary: &'static str,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_in_flight: 32,
            session_timeout_ms: 10_000,
            delivery_partitions: 4,
            registry: None,
            otlp: None,
            receipts: false,
            email_over_smtp: false,
            tracking: false,
            links: false,
            webhooks: false,
            sms_primary: "twilio",
        }
    }
}

/// The app's credentials for the HTTP API.
#[derive(Debug, Clone)]
pub struct App {
    /// Tenant id.
    pub tenant: String,
    /// HTTP Basic user.
    pub key: String,
    /// HTTP Basic password.
    pub secret: String,
}

/// A running pipeline of one test.
#[derive(Debug)]
pub struct Pipeline {
    /// Working directory: config, simulator credentials, logs.
    pub dir: PathBuf,
    /// The config file every process reads.
    pub config: PathBuf,
    /// Topic prefix of this run.
    pub prefix: String,
    /// Keyspace of this run.
    pub keyspace: String,
    /// Tenant and app.
    pub app: App,
    /// Base URL of the ingest API.
    pub api: String,
    /// Each simulator's control URL, by provider name (`apns`, `fcm`, ..., `smtp`).
    pub sims: BTreeMap<String, String>,
    /// Settings it was started with.
    pub settings: Settings,
    /// The simulators, the gateway, the router, the dispatchers, in start order.
    pub procs: Vec<Proc>,
    serial: u32,
    finished: bool,
    /// Last, so it removes the topics and keyspace after the processes are gone.
    _scratch: Scratch,
}

impl Pipeline {
    /// A fresh keyspace, topics, tenant, app, simulators and ingest gateway.
    pub async fn start(settings: Settings) -> anyhow::Result<Self> {
        let prefix = unique("e2e");
        let keyspace = prefix.replace('-', "_");
        let dir = std::env::temp_dir().join(format!("notify-{prefix}"));
        std::fs::create_dir_all(dir.join("logs"))?;
        let store = StoreConfig {
            nodes: vec![cassandra()],
            keyspace: keyspace.clone(),
            request_timeout_ms: 60_000,
            ..Default::default()
        };
        let scratch = Scratch::new(&kafka_config(&prefix), &store);
        let mut pipeline = Self {
            config: dir.join("notify.toml"),
            dir,
            prefix,
            keyspace,
            app: App {
                tenant: String::new(),
                key: String::new(),
                secret: String::new(),
            },
            api: String::new(),
            sims: BTreeMap::new(),
            settings,
            procs: Vec::new(),
            serial: 0,
            finished: false,
            _scratch: scratch,
        };
        pipeline.start_sims().await?;
        let listen = free_addr();
        pipeline.api = format!("http://{listen}");
        pipeline.write_config()?;
        let config = pipeline.config.clone();
        let registry = pipeline.settings.registry.is_some();
        tokio::task::spawn_blocking(move || -> anyhow::Result<App> {
            notify_output(&config, &["migrate"])?;
            notify_output(&config, &["topics", "create"])?;
            if registry {
                notify_output(&config, &["schemas", "register"])?;
            }
            let tenant = notify_output(&config, &["tenants", "create", "--name", "e2e"])?;
            let tenant = field(&tenant, "tenant_id")?;
            let app = notify_output(
                &config,
                &[
                    "apps",
                    "create",
                    "--tenant",
                    &tenant,
                    "--scopes",
                    "send,status,admin",
                ],
            )?;
            Ok(App {
                tenant,
                key: field(&app, "app_key")?,
                secret: field(&app, "app_secret")?,
            })
        })
        .await?
        .map(|app| pipeline.app = app)?;
        let env = [("NOTIFY_INGEST__LISTEN_ADDR", listen.to_string())];
        let ingest = pipeline.spawn("ingest", &["ingest"], &env)?;
        let url = format!("{}/readyz", pipeline.api);
        pipeline.wait_ready(ingest, &url).await?;
        // what answered is the gateway itself, not a process that took its port first
        let bound = listen.to_string();
        pipeline
            .wait_logged(ingest, &["ingest api listening", &bound])
            .await?;
        if pipeline.settings.receipts {
            pipeline.point_sendgrid_events().await?;
        }
        Ok(pipeline)
    }

    async fn start_sims(&mut self) -> anyhow::Result<()> {
        let sim_dir = self.dir.join("sim");
        let sim_dir_text = sim_dir.to_string_lossy().into_owned();
        let index = self.procs.len();
        // `notify sim` needs no configuration: run it without --config
        let every = || "1".to_owned();
        let recipient = [
            ("NOTIFY_SIM_OPEN_RATE", every()),
            ("NOTIFY_SIM_CLICK_RATE", every()),
        ];
        let env: &[_] = if self.settings.tracking {
            &recipient
        } else {
            &[]
        };
        self.spawn_raw(
            "sim",
            &["sim", "--dir", &sim_dir_text, "--port-base", "0"],
            env,
            false,
        )?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = std::fs::read_to_string(&self.procs[index].log).unwrap_or_default();
            if out.contains("providers:") {
                for line in out.lines() {
                    if let Some((name, rest)) = line.split_once(": ") {
                        let url = rest.split_whitespace().next().unwrap_or_default();
                        if url.starts_with("http") {
                            self.sims.insert(name.to_owned(), url.to_owned());
                        }
                    }
                }
                break;
            }
            if Instant::now() > deadline || !self.procs[index].running() {
                bail!("notify sim did not start:\n{out}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    fn spawn_raw(
        &mut self,
        name: &str,
        args: &[&str],
        env: &[(&str, String)],
        with_config: bool,
    ) -> anyhow::Result<usize> {
        self.serial += 1;
        let log = self
            .dir
            .join("logs")
            .join(format!("{:02}-{name}.log", self.serial));
        let out = File::create(&log)?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_notify"));
        if with_config {
            command.arg("--config").arg(&self.config);
        }
        let admin = with_config.then(free_addr);
        if let Some(admin) = admin {
            command.env("NOTIFY_TELEMETRY__METRICS_ADDR", admin.to_string());
        }
        let child = command
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("spawn notify {args:?}"))?;
        self.procs.push(Proc {
            name: name.to_owned(),
            child,
            log,
            admin,
        });
        Ok(self.procs.len() - 1)
    }

    /// Starts `notify <args>` with the run's config as process `name`; its index in `procs`.
    pub fn spawn(
        &mut self,
        name: &str,
        args: &[&str],
        env: &[(&str, String)],
    ) -> anyhow::Result<usize> {
        self.spawn_raw(name, args, env, true)
    }

    /// Starts one dispatcher of `channel` and waits until it reports ready.
    pub async fn spawn_dispatcher(&mut self, channel: &str) -> anyhow::Result<usize> {
        let index = self.spawn(
            &format!("dispatch-{channel}"),
            &["dispatch", "--channel", channel],
            &[],
        )?;
        self.wait_proc_ready(index).await?;
        Ok(index)
    }

    /// Starts the router and one dispatcher per channel, and waits until each is ready.
    pub async fn start_stages(&mut self) -> anyhow::Result<()> {
        let router = self.spawn("router", &["router"], &[])?;
        self.wait_proc_ready(router).await?;
        for channel in CHANNELS {
            self.spawn_dispatcher(channel).await?;
        }
        Ok(())
    }

    async fn wait_proc_ready(&mut self, index: usize) -> anyhow::Result<()> {
        let admin = self.procs[index].admin.context("no admin endpoint")?;
        self.wait_ready(index, &format!("http://{admin}/readyz"))
            .await
    }

    /// Waits until `url` answers with a success, for at most 60 s; fails at once if process
    /// `index` has stopped.
    async fn wait_ready(&mut self, index: usize, url: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        loop {
            if let Ok(response) = client.get(url).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline || !self.procs[index].running() {
                bail!(
                    "{} not ready:\n{}",
                    self.procs[index].name,
                    self.procs[index].tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until process `index` has logged a line with every one of `parts`.
    async fn wait_logged(&mut self, index: usize, parts: &[&str]) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.procs[index].logged(parts) {
            if Instant::now() > deadline || !self.procs[index].running() {
                bail!(
                    "{} never logged {parts:?}:\n{}",
                    self.procs[index].name,
                    self.procs[index].tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Index of the first running process named `name`.
    pub fn find(&mut self, name: &str) -> Option<usize> {
        (0..self.procs.len()).find(|&i| self.procs[i].name == name && self.procs[i].running())
    }

    /// The tail of every process's log, for a failure message.
    pub fn logs(&self) -> String {
        self.procs
            .iter()
            .map(|p| format!("---- {} (pid {}) ----\n{}\n", p.name, p.pid(), p.tail(25)))
            .collect()
    }

    /// Every line of every process's log that contains `needle`, under the process's name.
    pub fn lines_naming(&self, needle: &str) -> String {
        let mut out = String::new();
        for p in &self.procs {
            let text = std::fs::read_to_string(&p.log).unwrap_or_default();
            for line in text.lines().filter(|l| l.contains(needle)) {
                out.push_str(&format!("  [{} {}] {line}\n", p.name, p.pid()));
            }
        }
        out
    }

    /// The run's configuration, as every process reads it.
    pub fn loaded_config(&self) -> anyhow::Result<notify_common::Config> {
        Ok(notify_common::Config::load(Some(&self.config))?)
    }

    /// Kafka settings of the run: the stack's broker, the run's topic prefix.
    pub fn kafka(&self) -> KafkaConfig {
        kafka_config(&self.prefix)
    }

    /// Stops every process, deletes the topics, drops the keyspace and the run directory (kept
    /// with `NOTIFY_E2E_KEEP_LOGS` set).
    pub async fn finish(mut self) {
        self.kill_all();
        if std::env::var_os("NOTIFY_E2E_KEEP_LOGS").is_some() {
            eprintln!(
                "pipeline logs kept in {} (NOTIFY_E2E_KEEP_LOGS)",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        self.finished = true;
        // dropping the scratch guard now removes the topics and the keyspace
    }

    fn kill_all(&mut self) {
        for proc in self.procs.iter_mut().rev() {
            proc.kill9();
        }
    }
}

/// The stack's broker with the topics under `prefix`.
fn kafka_config(prefix: &str) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers(),
        topic_prefix: prefix.to_owned(),
        ..Default::default()
    }
}

impl Drop for Pipeline {
    /// A test that failed still leaves no process, topic or keyspace behind (a stack full of
    /// them runs out of memory); its logs stay in the run directory.
    fn drop(&mut self) {
        if !self.finished {
            eprintln!("pipeline logs kept in {}", self.dir.display());
            self.kill_all();
        }
    }
}

/// The five channels, as `notify dispatch --channel` names them.
pub const CHANNELS: [&str; 5] = ["apns", "fcm", "webpush", "sms", "email"];

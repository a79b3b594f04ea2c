//! What a pipeline's processes read: the configuration file every stage is started with, and
//! the SendGrid simulator's Event Webhook setting (made through SendGrid's settings API).

use anyhow::Context;
use notify_it::{brokers, cassandra};

use crate::harness::Pipeline;

impl Pipeline {
    /// Writes the run's `notify.toml`: this run's topics, groups and keyspace, the settings,
    /// and the simulators' provider tables.
    pub(crate) fn write_config(&self) -> anyhow::Result<()> {
        let s = &self.settings;
        let mut providers = std::fs::read_to_string(self.dir.join("sim/providers.toml"))?;
        if s.receipts {
            let header = "[dispatch.providers.twilio]\n";
            let callback = format!(
                "{header}status_callback_base = \"{}/v1/receipts/twilio\"\n",
                self.api
            );
            anyhow::ensure!(
                providers.contains(header),
                "no Twilio simulator: {providers}"
            );
            providers = providers.replace(header, &callback);
            let header = "[dispatch.providers.vonage]\n";
            let receipts = format!(
                "{header}delivery_receipt_url = \"{}/v1/receipts/vonage\"\n",
                self.api
            );
            providers = providers.replace(header, &receipts);
        }
        if s.sms_primary == "vonage" {
            let order = "primary = \"twilio\"\nsecondary = \"vonage\"\n";
            anyhow::ensure!(providers.contains(order), "no SMS failover: {providers}");
            providers = providers.replace(order, "primary = \"vonage\"\nsecondary = \"twilio\"\n");
        }
        if s.email_over_smtp {
            let routing =
                "[dispatch.providers.email]\nprimary = \"sendgrid\"\nsecondary = \"smtp\"\n";
            anyhow::ensure!(providers.contains(routing), "no email routing: {providers}");
            providers =
                providers.replace(routing, "[dispatch.providers.email]\nprimary = \"smtp\"\n");
            let header = "[dispatch.providers.smtp]\n";
            let secret = self.dir.join("dsn-secret");
            std::fs::write(&secret, notify_it::unique("dsn-secret"))?;
            let dsn = format!(
                "{header}dsn_secret = {{ file = \"{}\" }}\n",
                secret.display()
            );
            providers = providers.replace(header, &dsn);
        }
        let links = if s.links || s.tracking {
            let key = self.dir.join("links-key");
            std::fs::write(&key, notify_it::unique("links-key-of-at-least-32-bytes"))?;
            format!(
                "[links]\npublic_base_url = \"{}\"\nkeys = [{{ file = \"{}\" }}]\n",
                self.api,
                key.display()
            )
        } else {
            String::new()
        };
        let kafka_debug = std::env::var("NOTIFY_E2E_KAFKA_DEBUG").ok();
        let text = format!(
            r#"{links}[kafka]
brokers = "{brokers}"
topic_prefix = "{prefix}"
# /healthz fails once a consumer is out of its group this long (the Kafka outage test checks it)
out_of_group_limit_ms = 20000
[kafka.partitions]
requests = 4
deliveries = {deliveries}
retry = 2
status = 2
dlq = 1
[kafka.client_properties]
"session.timeout.ms" = "{session}"
{kafka_debug}[store]
nodes = ["{cassandra}"]
keyspace = "{keyspace}"
request_timeout_ms = 30000
[ingest]
tenant_rate_per_s = 0
tenant_notifications_per_s = 0
{secrets_key}[router]
group_id = "{prefix}-router"
email_from = "notify@example.com"
max_backoff_ms = 2000
[telemetry]
log_filter = "info,notify_dispatchers=debug,scylla=warn,rdkafka=warn{librdkafka_log}"
{otlp}[shutdown]
grace_period_ms = 15000
[dispatch]
group_id_prefix = "{prefix}-dispatch"
retry_group_id_prefix = "{prefix}-retry"
max_in_flight = {in_flight}
drain_deadline_ms = {drain}
send_timeout_ms = {send}
max_backoff_ms = 2000
[dispatch.retry]
max_attempts = 12
backoff_base_ms = 500
backoff_max_ms = 8000
{registry}
{webhooks}
{providers}"#,
            secrets_key = match s.webhooks {
                true => {
                    let file = self.dir.join("secrets.key");
                    std::fs::write(&file, format!("{}\n", "5a".repeat(32)))?;
                    format!("secrets_key_file = \"{}\"\n", file.display())
                }
                false => String::new(),
            },
            webhooks = match s.webhooks {
                true => format!(
                    "[webhooks]\ngroup_id = \"{}-webhooks\"\nallow_insecure_loopback = true\n\
                     initial_backoff_ms = 500\nmax_backoff_ms = 5000\n",
                    self.prefix
                ),
                false => String::new(),
            },
            registry = match &s.registry {
                Some(url) => format!(
                    "[schema_registry]\nurl = \"{url}\"\n\
                     confluent_topics = [\"requests\", \"deliveries\", \"status\"]\n"
                ),
                None => String::new(),
            },
            otlp = match &s.otlp {
                Some(url) => format!("otlp_endpoint = \"{url}\"\ntrace_sample_ratio = 1.0\n"),
                None => String::new(),
            },
            brokers = brokers(),
            prefix = self.prefix,
            deliveries = s.delivery_partitions,
            session = s.session_timeout_ms,
            // NOTIFY_E2E_KAFKA_DEBUG=cgrp,eos: librdkafka's own debug contexts in the stage logs
            kafka_debug = match &kafka_debug {
                Some(contexts) => format!("\"debug\" = \"{contexts}\"\n"),
                None => String::new(),
            },
            librdkafka_log = match &kafka_debug {
                Some(_) => ",librdkafka=debug",
                None => "",
            },
            cassandra = cassandra(),
            keyspace = self.keyspace,
            in_flight = s.max_in_flight,
            drain = s.session_timeout_ms / 2,
            send = s.session_timeout_ms / 4,
        );
        std::fs::write(&self.config, text)?;
        Ok(())
    }

    /// Sets the SendGrid simulator's Event Webhook to the gateway's receipt route, through
    /// SendGrid's settings API.
    pub(crate) async fn point_sendgrid_events(&self) -> anyhow::Result<()> {
        let key = self.provider_secret("sendgrid", "api_key")?;
        let base = self.sims.get("sendgrid").context("no SendGrid simulator")?;
        let answer = reqwest::Client::new()
            .patch(format!("{base}/v3/user/webhooks/event/settings"))
            .bearer_auth(key)
            .json(&serde_json::json!({
                "enabled": true,
                "url": format!("{}/v1/receipts/sendgrid", self.api),
            }))
            .send()
            .await?;
        anyhow::ensure!(
            answer.status().is_success(),
            "event webhook settings: {}",
            answer.status()
        );
        Ok(())
    }
}

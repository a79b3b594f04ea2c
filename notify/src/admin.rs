//! One-shot operator commands: schema migration, topic administration, connectivity check.

use std::time::Duration;

use anyhow::Context;
use notify_common::kafka::{self, TopicOutcome};
use notify_common::topics::layout;
use notify_common::Config;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::cli::TopicsAction;
use crate::out::{out, outln};

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let session = notify_store::connect(&config.store).await?;
    let report = notify_store::migrate(&session, &config.store).await?;
    let version = report.current_version().unwrap_or(0);
    outln!(
        "keyspace {}: schema version {version} (applied now: {:?}, already applied: {:?})",
        config.store.keyspace,
        report.applied,
        report.already_applied
    )?;
    Ok(())
}

pub async fn topics(config: &Config, action: TopicsAction) -> anyhow::Result<()> {
    let admin = kafka::admin(&config.kafka, "admin")?;
    let timeout = Duration::from_millis(config.kafka.request_timeout_ms);
    let specs = layout(&config.kafka);
    match action {
        TopicsAction::Create => {
            let outcomes =
                kafka::ensure_topics(&admin, &specs, config.kafka.replication_factor, timeout)
                    .await?;
            for (topic, outcome) in outcomes {
                match outcome {
                    TopicOutcome::Created => outln!("created  {topic}")?,
                    TopicOutcome::Exists => outln!("exists   {topic}")?,
                    TopicOutcome::PartitionsDiffer { actual, wanted } => outln!(
                        "differs  {topic}: has {actual} partitions, configuration asks for {wanted}; \
                         left unchanged (raising the count moves keys between partitions)"
                    )?,
                }
            }
        }
        TopicsAction::List => {
            for spec in specs {
                let actual = kafka::partition_count(&admin, &spec.name, timeout)?;
                let state = if actual == 0 {
                    "missing".to_owned()
                } else {
                    format!("{actual} partitions")
                };
                outln!("{:<32} {state} (configured {})", spec.name, spec.partitions)?;
            }
        }
    }
    Ok(())
}

pub async fn check(config: &Config) -> anyhow::Result<()> {
    let timeout = Duration::from_millis(config.kafka.request_timeout_ms);
    let consumer: BaseConsumer = kafka::consumer_config(&config.kafka, "check", "notify-check")
        .create()
        .context("kafka client")?;
    let metadata = consumer
        .fetch_metadata(None, timeout)
        .with_context(|| format!("kafka at {} does not answer", config.kafka.brokers))?;
    outln!(
        "kafka     ok: {} broker(s), {} topic(s)",
        metadata.brokers().len(),
        metadata.topics().len()
    )?;

    let session = notify_store::connect(&config.store).await?;
    let (version,): (String,) = session
        .query_unpaged("SELECT release_version FROM system.local", ())
        .await
        .context("database query")?
        .into_rows_result()
        .context("database result")?
        .single_row()
        .context("database result")?;
    outln!("database  ok: release {version}")?;
    Ok(())
}

pub fn print_config(config: &Config) -> anyhow::Result<()> {
    out!("{}", render_config(config)?)?;
    Ok(())
}

/// The effective configuration as TOML, as `notify config` prints it: secrets replaced (see
/// [`crate::redact`]).
fn render_config(config: &Config) -> anyhow::Result<String> {
    let mut value = toml::Value::try_from(config).context("configuration as toml")?;
    crate::redact::redact(&mut value);
    toml::to_string_pretty(&value).context("configuration as toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One secret of every kind an operator can configure; none may appear in the output.
    #[test]
    fn config_output_has_no_secret() {
        let mut config = Config::default();
        let secrets = [
            ("sasl.password", "kafka-sasl-pw"),
            ("ssl.key.password", "kafka-key-pw"),
            ("ssl.keystore.password", "kafka-keystore-pw"),
            ("ssl.key.pem", "-----BEGIN PRIVATE KEY-----kafka"),
            ("sasl.oauthbearer.client.secret", "kafka-oauth-secret"),
            ("sasl.oauthbearer.config", "clientSecret=kafka-oauth-config"),
        ];
        for (key, value) in secrets {
            config
                .kafka
                .client_properties
                .insert(key.into(), value.into());
        }
        config
            .kafka
            .client_properties
            .insert("sasl.username".into(), "notify-user".into());
        // provider tables are raw until a dispatcher parses them, so a secret written inline
        // (which the provider would refuse) still reaches `notify config`
        config.dispatch.providers = toml::from_str(
            r#"
            [sendgrid]
            api_key = "SG.sendgrid-inline"
            [twilio]
            account_sid = "AC123"
            auth_token = "twilio-inline"
            [vonage]
            api_key = "vonage-key"
            api_secret = "vonage-inline"
            [smtp]
            host = "mail.example.com"
            username = "mailer"
            password = "smtp-inline"
            [webhook]
            base_url = "https://hook:url-inline@hooks.example.com/x"
            [fcm]
            credentials = { private_key = "fcm-inline" }
            [apns]
            key_file = "secrets/apns.p8"
            key_id = "ABC123"
            "#,
        )
        .expect("providers toml");

        let text = render_config(&config).expect("renders");
        let inline = [
            "SG.sendgrid-inline",
            "twilio-inline",
            "vonage-key",
            "vonage-inline",
            "smtp-inline",
            "url-inline",
            "fcm-inline",
        ];
        for secret in secrets.iter().map(|(_, v)| *v).chain(inline) {
            assert!(!text.contains(secret), "{secret:?} printed:\n{text}");
        }
        // what is not a secret stays, so the output is still useful
        for kept in [
            "notify-user",
            "AC123",
            "mailer",
            "secrets/apns.p8",
            "ABC123",
            "hooks.example.com",
        ] {
            assert!(text.contains(kept), "{kept:?} missing:\n{text}");
        }
    }
}

//! One-shot operator commands: schema migration, topic administration, connectivity check.

use std::time::Duration;

use anyhow::Context;
use notify_common::kafka::{self, TopicOutcome};
use notify_common::topics::layout;
use notify_common::Config;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::cli::TopicsAction;

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let session = notify_store::connect(&config.store).await?;
    let report = notify_store::migrate(&session, &config.store).await?;
    let version = report.current_version().unwrap_or(0);
    println!(
        "keyspace {}: schema version {version} (applied now: {:?}, already applied: {:?})",
        config.store.keyspace, report.applied, report.already_applied
    );
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
                    TopicOutcome::Created => println!("created  {topic}"),
                    TopicOutcome::Exists => println!("exists   {topic}"),
                    TopicOutcome::PartitionsDiffer { actual, wanted } => println!(
                        "differs  {topic}: has {actual} partitions, configuration asks for {wanted}; \
                         left unchanged (raising the count moves keys between partitions)"
                    ),
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
                println!("{:<32} {state} (configured {})", spec.name, spec.partitions);
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
    println!(
        "kafka     ok: {} broker(s), {} topic(s)",
        metadata.brokers().len(),
        metadata.topics().len()
    );

    let session = notify_store::connect(&config.store).await?;
    let (version,): (String,) = session
        .query_unpaged("SELECT release_version FROM system.local", ())
        .await
        .context("database query")?
        .into_rows_result()
        .context("database result")?
        .single_row()
        .context("database result")?;
    println!("database  ok: release {version}");
    Ok(())
}

pub fn print_config(config: &Config) -> anyhow::Result<()> {
    print!(
        "{}",
        toml::to_string_pretty(config).context("configuration as toml")?
    );
    Ok(())
}

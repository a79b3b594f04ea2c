//! `notify produce`: publishes one notification straight to `notify.requests`, skipping the
//! HTTP gateway, as a producer service would. The JSON is the body `POST /v1/notifications`
//! takes and passes the same validation; the record is the same Avro, keyed `tenant:user`, and
//! the command waits for the broker's acknowledgement. The tenant is not checked here: the
//! router dead-letters records of unknown tenants.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crate::out::outln;
use anyhow::Context;
use notify_common::clock;
use notify_common::config::FramedTopics;
use notify_common::kafka;
use notify_common::publish::{KafkaPublisher, Publisher, Record};
use notify_common::schema_registry;
use notify_common::topics::Topics;
use notify_common::Config;
use notify_ingest::validate::{self, Limits, NotificationInput};
use notify_schemas::{NotificationRequest, Uuid};

/// `input` checked and completed as the gateway does it, for `tenant` under `event_id`; an
/// invalid one fails with one line per field at fault.
pub fn validated(
    input: NotificationInput,
    tenant: &str,
    event_id: Uuid,
    now_ms: i64,
    limits: &Limits,
) -> anyhow::Result<NotificationRequest> {
    validate::validate(input, tenant, event_id, None, now_ms, limits).map_err(|errors| {
        let lines: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        anyhow::anyhow!("invalid notification:\n  {}", lines.join("\n  "))
    })
}

pub async fn produce(config: &Config, tenant: &str, file: Option<&Path>) -> anyhow::Result<()> {
    let mut json = Vec::new();
    match file {
        Some(path) => {
            json = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => {
            std::io::stdin()
                .read_to_end(&mut json)
                .context("cannot read standard input")?;
        }
    }
    let input: NotificationInput = validate::parse_json(&json).map_err(|problem| {
        anyhow::anyhow!(
            "{}",
            serde_json::to_string(&problem).unwrap_or_else(|_| problem.title.to_owned())
        )
    })?;
    let limits = Limits::from(&config.ingest);
    let request = validated(input, tenant, Uuid::new_v4(), clock::now_ms(), &limits)?;
    let topics = Topics::new(&config.kafka.topic_prefix);
    // Confluent-framed when the configuration writes requests that way, as ingest does
    let schemas =
        schema_registry::stage_schemas(&config.schema_registry, &topics, &[FramedTopics::Requests])
            .await?;
    let payload = schemas.codec::<NotificationRequest>()?.encode(&request)?;
    let topic = topics.requests();
    let timeout = Duration::from_millis(config.kafka.message_timeout_ms);
    let publisher = KafkaPublisher::new(kafka::producer(&config.kafka, "produce")?, timeout);
    let record = Record::new(
        topic.as_str(),
        format!("{tenant}:{}", request.user_id),
        payload,
    );
    publisher
        .publish(&[record])
        .await
        .with_context(|| format!("not acknowledged by {}", config.kafka.brokers))?;
    outln!("event_id: {}", request.event_id)?;
    outln!("topic:    {topic}")?;
    Ok(())
}

//! `notify schemas register`: the pipeline's Avro schemas into the schema registry, under the
//! topic-name strategy, with a compatibility rule on every subject.
//!
//! Guarantees: a subject that already has versions gets its rule set first and the schema
//! checked against it before anything is registered, so an incompatible schema is refused with
//! the registry's reasons and leaves the subject as it was; the command then fails, naming
//! every refused subject, after trying the others. Re-running with the same schemas registers
//! nothing new (the registry answers the existing ids).

use std::path::Path;

use anyhow::{bail, Context};
use notify_common::config::FramedTopics;
use notify_common::schema_registry::{self, topics_of};
use notify_common::topics::Topics;
use notify_common::Config;
use notify_schemas::registry::{subject_for, Compatibility, RegistryClient, RegistryError};
use notify_schemas::{Delivery, DeliveryStatus, NotificationRequest, Record};

use crate::out::outln;

/// The schema file of each kind of topic, as `schemas/avro/` names it.
const FILES: [(FramedTopics, &str); 3] = [
    (FramedTopics::Requests, "notification_request.avsc"),
    (FramedTopics::Deliveries, "delivery.avsc"),
    (FramedTopics::Status, "delivery_status.avsc"),
];

pub async fn register(
    config: &Config,
    compatibility: Compatibility,
    dir: Option<&Path>,
) -> anyhow::Result<()> {
    let client = schema_registry::client(&config.schema_registry)?
        .context("no schema registry configured: set schema_registry.url")?;
    let topics = Topics::new(&config.kafka.topic_prefix);
    let mut refused = Vec::new();
    for (kind, file) in FILES {
        let schema = match dir {
            Some(dir) => {
                let path = dir.join(file);
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                notify_schemas::Schema::parse_str(&text)
                    .with_context(|| format!("{} is not a valid Avro schema", path.display()))?;
                text
            }
            None => built_in(kind).to_owned(),
        };
        for topic in topics_of(kind, &topics) {
            let subject = subject_for(&topic);
            match register_one(&client, &subject, &schema, compatibility).await {
                Ok(line) => outln!("{subject:<40} {line}")?,
                Err(RegistryError::Incompatible { message, .. }) => {
                    outln!("{subject:<40} REFUSED: {message}")?;
                    refused.push(subject);
                }
                Err(err) => return Err(err).with_context(|| format!("registering {subject}")),
            }
        }
    }
    if !refused.is_empty() {
        bail!(
            "{} subject(s) refused the schema as incompatible with {} ({}); nothing was \
             registered under them",
            refused.len(),
            compatibility.as_str(),
            refused.join(", ")
        );
    }
    Ok(())
}

fn built_in(kind: FramedTopics) -> &'static str {
    match kind {
        FramedTopics::Requests => NotificationRequest::schema_json(),
        FramedTopics::Deliveries => Delivery::schema_json(),
        FramedTopics::Status => DeliveryStatus::schema_json(),
    }
}

/// Registers `schema` under `subject`; the line to print.
async fn register_one(
    client: &RegistryClient,
    subject: &str,
    schema: &str,
    compatibility: Compatibility,
) -> Result<String, RegistryError> {
    let existing = client.id_under(subject, schema).await?;
    if let Some(id) = existing {
        client.set_compatibility(subject, compatibility).await?;
        return Ok(format!(
            "id {id} (already registered), {}",
            compatibility.as_str()
        ));
    }
    let has_versions = client.check_compatibility(subject, schema).await?.is_some();
    if has_versions {
        // the rule first, so the check and the registration below are held to it
        client.set_compatibility(subject, compatibility).await?;
        if let Some((false, reasons)) = client.check_compatibility(subject, schema).await? {
            return Err(RegistryError::Incompatible {
                subject: subject.to_owned(),
                message: if reasons.is_empty() {
                    "not compatible with the latest version".to_owned()
                } else {
                    reasons.join("; ")
                },
            });
        }
    }
    let id = client.register(subject, schema).await?;
    if !has_versions {
        client.set_compatibility(subject, compatibility).await?;
    }
    Ok(format!("id {id} (registered), {}", compatibility.as_str()))
}

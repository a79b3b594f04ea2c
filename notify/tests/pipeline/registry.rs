//! The pipeline with the stack's schema registry: requests, deliveries and statuses are
//! Confluent-framed (`00` + registry id) and read through the registry.
//!
//! Producers and analysts use their own standard clients here: the Python examples of
//! `docs/examples/python/` (Confluent's `AvroSerializer` and `AvroDeserializer`), run with the
//! interpreter `scripts/peers.d/confluent-kafka` installs (`NOTIFY_IT_CONFLUENT_PYTHON`). The
//! outage test (`registry_outage.rs`) stops the stack's registry and starts it again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use notify_it::schema_registry;
use notify_schemas::registry::{subject_for, RegistryClient, RegistrySettings};
use notify_schemas::{Channel, NotificationRequest, Record as _, Status, Uuid};
use serde_json::Value;

use crate::harness::Settings;
use crate::run::{self, limit_for, Run};
use crate::workload::{Outcome, Sent, Shape, User};

pub(crate) fn settings() -> Settings {
    Settings {
        registry: Some(schema_registry()),
        ..Settings::default()
    }
}

/// A seeded user with a phone number who takes `orders` by SMS.
pub(crate) fn sms_user(run: &Run) -> anyhow::Result<&User> {
    run.users
        .iter()
        .find(|u| !u.opted_out && u.targets.iter().any(|t| t.channel == Channel::Sms))
        .context("no seeded user takes SMS")
}

/// What an `orders` SMS to `user` must end as.
pub(crate) fn sms_sent(tenant: &str, event_id: Uuid, user: &User) -> Sent {
    let expected = user
        .targets
        .iter()
        .filter(|t| t.channel == Channel::Sms)
        .map(|t| Outcome {
            channel: Channel::Sms,
            delivery_id: Some(notify_schemas::delivery_id(
                tenant,
                event_id,
                Channel::Sms,
                &t.key,
            )),
            status: Status::Sent,
            reason: None,
        })
        .collect();
    Sent {
        event_id,
        expected,
        scheduled: false,
    }
}

/// The partition Kafka's Java client (and the pipeline's producers, `murmur2_random`) gives
/// `key` among `partitions`: murmur2 with the Java client's seed, its sign bit cleared.
fn java_partition(key: &[u8], partitions: u32) -> u64 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ key.len() as u32;
    let mut chunks = key.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    u64::from((h & 0x7fff_ffff) % partitions)
}

pub(crate) fn client() -> anyhow::Result<RegistryClient> {
    Ok(RegistryClient::new(&RegistrySettings {
        url: schema_registry(),
        timeout: Duration::from_secs(5),
        retries: 2,
        basic_auth: None,
    })?)
}

fn python() -> String {
    std::env::var("NOTIFY_IT_CONFLUENT_PYTHON").unwrap_or_else(|_| {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/peers.d/confluent-kafka"
        );
        let out = Command::new(script)
            .arg("python")
            .output()
            .expect("scripts/peers.d/confluent-kafka python");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/examples/python")
        .join(name)
}

/// Runs a Python example; its standard output.
fn run_example(name: &str, args: &[String]) -> anyhow::Result<String> {
    let mut command = if name == "java" {
        // the Java example builds itself (Maven, once) and runs its jar
        Command::new(example("../java/run"))
    } else {
        let mut python = Command::new(python());
        python.arg(example(name));
        python
    };
    let output = command
        .args(args)
        .output()
        .with_context(|| format!("run {name}"))?;
    ensure!(
        output.status.success(),
        "{name} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn standard_avro_clients_publish_and_read_through_the_registry() -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let shape = Shape::new(200, false);
    let run = Run::start(settings(), shape).await?;
    let tenant = run.pipeline.app.tenant.clone();
    let topics = notify_common::topics::Topics::new(&run.pipeline.prefix);
    // through the API: ingest writes the requests Confluent-framed
    let mut sent = run.send("registry", 0..shape.size).await?;
    // straight to Kafka with Confluent's serializer, as a producer service would: with the
    // current schema, an older version (before `trace`) and a newer one (a field this router
    // does not know), each registered under the subject before it publishes
    let user = sms_user(&run)?.clone();
    let subject = subject_for(&topics.requests());
    let versions = run.pipeline.dir.join("versions");
    std::fs::create_dir_all(&versions)?;
    let current: Value = serde_json::from_str(NotificationRequest::schema_json())?;
    let mut older = current.clone();
    older["fields"]
        .as_array_mut()
        .context("fields")?
        .retain(|f| f["name"] != "trace");
    let mut newer = current.clone();
    newer["fields"]
        .as_array_mut()
        .context("fields")?
        .push(serde_json::json!({"name": "campaign", "type": ["null", "string"], "default": null}));
    let client = client()?;
    let mut ids = Vec::new();
    for (name, schema) in [("older", &older), ("newer", &newer)] {
        let path = versions.join(format!("{name}.avsc"));
        std::fs::write(&path, schema.to_string())?;
        ids.push(client.register(&subject, &schema.to_string()).await?);
    }
    ensure!(ids[0] != ids[1], "the two versions got one id: {ids:?}");
    let mut from_producers = 0;
    let runs = [
        ("producer.py", None),
        ("producer.py", Some(versions.join("older.avsc"))),
        ("producer.py", Some(versions.join("newer.avsc"))),
        // Kafka's Java client with Apicurio's serde, framed the same way
        ("java", None),
    ];
    for (producer, schema) in runs {
        let mut args = vec![
            "--bootstrap".into(),
            notify_it::brokers(),
            "--registry".into(),
            schema_registry(),
            "--topic".into(),
            topics.requests(),
            "--tenant".into(),
            tenant.clone(),
            "--user".into(),
            user.id.clone(),
            "--category".into(),
            "orders".into(),
            "--channel".into(),
            "sms".into(),
            "--sms-text".into(),
            "Your order shipped".into(),
            "--count".into(),
            "10".into(),
        ];
        if let Some(path) = &schema {
            args.push("--schema".into());
            args.push(path.to_string_lossy().into_owned());
        }
        let produced = run_example(producer, &args)?;
        let mut records = 0;
        for line in produced.lines().filter(|l| l.trim_start().starts_with('{')) {
            let record: Value = serde_json::from_str(line)?;
            // placed as the gateway places the same key (murmur2, the Java client's way)
            let key = format!("{tenant}:{}", user.id);
            ensure!(
                record["partition"].as_u64() == Some(java_partition(key.as_bytes(), 4)),
                "{producer} put {key} on another partition than the gateway would: {line}"
            );
            let event_id: Uuid = record["event_id"].as_str().context("event_id")?.parse()?;
            sent.push(sms_sent(&tenant, event_id, &user));
            records += 1;
        }
        ensure!(
            records == 10,
            "{producer} reported {records} records:\n{produced}"
        );
        from_producers += records;
    }

    let figures = run
        .finish_and_judge(&sent, limit_for(sent.len()), Instant::now())
        .await?;
    crate::observe::report(format_args!("{}", figures.line("registry")));
    run.check(&figures, &sent, 0).await?;
    let (undecodable, dead_letters, by_kind) = run.observer.with(|seen| -> anyhow::Result<_> {
        let mut by_kind: BTreeMap<(String, String), u64> = BTreeMap::new();
        for status in &seen.statuses {
            let channel = status
                .channel
                .map_or_else(|| "none".to_owned(), |c| c.as_str().to_owned());
            *by_kind
                .entry((
                    channel,
                    serde_json::to_value(status.status)?
                        .as_str()
                        .unwrap_or("?")
                        .to_owned(),
                ))
                .or_default() += 1;
        }
        Ok((seen.undecodable_statuses, seen.dead_letters.len(), by_kind))
    })?;
    ensure!(
        undecodable == 0,
        "{undecodable} status records did not decode"
    );
    ensure!(
        dead_letters == 0,
        "{dead_letters} records were dead-lettered"
    );

    // an analyst with Confluent's deserializer reads every status of the run
    let total: u64 = by_kind.values().sum();
    let counted = run_example(
        "status_counts.py",
        &[
            "--bootstrap".into(),
            notify_it::brokers(),
            "--registry".into(),
            schema_registry(),
            "--topic".into(),
            topics.status(),
            "--group".into(),
            notify_it::unique("analyst"),
            "--expect".into(),
            total.to_string(),
            "--idle-seconds".into(),
            "15".into(),
            // every record, as the test's own consumer counts them
            "--repeats".into(),
            "keep".into(),
        ],
    )?;
    let counted: Value = serde_json::from_str(counted.trim()).context("status_counts JSON")?;
    let analyst = analyst_counts(&counted)?;
    ensure!(
        analyst == by_kind,
        "the analyst's counts differ from the statuses the test read:\nanalyst {analyst:?}\ntest    {by_kind:?}\n{counted}"
    );
    let sent_by_analyst: u64 = analyst
        .iter()
        .filter(|((_, status), _)| status == "SENT")
        .map(|(_, n)| n)
        .sum();
    let ledger = crate::observe::ledger_entries(&run.pipeline).await?.len() as u64;
    ensure!(
        sent_by_analyst == ledger,
        "the analyst counts {sent_by_analyst} SENT, the simulators' ledgers hold {ledger}"
    );
    crate::observe::report(format_args!(
        "registry: {from_producers} records from producer.py (current, older and newer schema, \
         ids {ids:?} for the last two) and the Java producer, {} through the API; \
         status_counts.py read {total} statuses ({sent_by_analyst} SENT = {ledger} ledger \
         entries)",
        shape.size
    ));
    run.finish().await;
    Ok(())
}

/// `{(channel, status): count}` from status_counts.py's JSON.
fn analyst_counts(counted: &Value) -> anyhow::Result<BTreeMap<(String, String), u64>> {
    let mut out = BTreeMap::new();
    let by = counted["counts"].as_object().context("counts")?;
    for (channel, statuses) in by {
        // statuses of a request as a whole (no channel) are a row of their own
        let channel = if channel.starts_with('(') {
            "none".to_owned()
        } else {
            channel.to_ascii_lowercase()
        };
        for (status, n) in statuses.as_object().context("statuses")? {
            out.insert(
                (channel.clone(), status.to_ascii_uppercase()),
                n.as_u64().context("count")?,
            );
        }
    }
    ensure!(
        counted["unreadable"].as_u64() == Some(0),
        "status_counts.py found unreadable records: {counted}"
    );
    Ok(out)
}

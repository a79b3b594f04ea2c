//! The stack's schema registry stopped for 30 s while a producer's records name a schema
//! version the router has not seen yet: they wait for the registry, none is dead-lettered, and
//! all are delivered once it is back.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use notify_it::ServerDown;
use notify_schemas::framing::confluent_header;
use notify_schemas::registry::subject_for;
use notify_schemas::{
    samples, Channel, Codec, NotificationRequest, Priority, Record as _, SmsContent, Uuid,
};
use serde_json::Value;

use crate::registry::{client, settings, sms_sent, sms_user};
use crate::run::{self, limit_for, Run};
use crate::workload::Shape;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn a_registry_outage_of_30_s_delays_records_and_dead_letters_none() -> anyhow::Result<()> {
    let _turn = run::whole_stack().await;
    let shape = Shape::new(100, false);
    let run = Run::start(settings(), shape).await?;
    let tenant = run.pipeline.app.tenant.clone();
    let topics = notify_common::topics::Topics::new(&run.pipeline.prefix);
    let mut sent = run.send("before", 0..shape.size).await?;

    // a producer moves to a new version (one optional field more; a doc-only change would get
    // the current id back): registered while the registry is up, first seen by it while down
    let client = client()?;
    let subject = subject_for(&topics.requests());
    let current_id = client
        .id_under(&subject, NotificationRequest::schema_json())
        .await?
        .context("the current schema is not registered")?;
    let mut schema: Value = serde_json::from_str(NotificationRequest::schema_json())?;
    schema["fields"]
        .as_array_mut()
        .context("fields")?
        .push(serde_json::json!({"name": "campaign", "type": ["null", "string"], "default": null}));
    let new_id = client.register(&subject, &schema.to_string()).await?;
    ensure!(
        new_id != current_id,
        "the new version got the current id {current_id}"
    );
    let current = apache_avro::Schema::parse_str(NotificationRequest::schema_json())?;
    let newer = apache_avro::Schema::parse(&schema)?;
    let read_current = apache_avro::reader::datum::GenericDatumReader::builder(&current).build()?;
    let write_newer = apache_avro::writer::datum::GenericDatumWriter::builder(&newer).build()?;
    let user = sms_user(&run)?.clone();
    let codec = Codec::<NotificationRequest>::new()?;
    let producer = notify_common::kafka::producer(&run.pipeline.kafka(), "e2e-producer")?;

    let down = tokio::task::spawn_blocking(|| ServerDown::begin("registry")).await?;
    let stopped_at = Instant::now();
    let mut held = Vec::new();
    for n in 0..50 {
        let mut request = samples::minimal_request();
        request.tenant = tenant.clone();
        request.event_id = Uuid::new_v4();
        request.user_id = user.id.clone();
        request.category = "orders".into();
        request.priority = Priority::Normal;
        request.channels = vec![Channel::Sms];
        request.content = Some(notify_schemas::InlineContent {
            push: None,
            sms: Some(SmsContent {
                text: format!("outage {n}"),
            }),
            email: None,
        });
        request.created_at = notify_common::clock::now_ms();
        // the datum written with the new version, framed with its id
        let single_object = codec.encode(&request)?;
        let mut body = &single_object[notify_schemas::framing::SINGLE_OBJECT_HEADER_LEN..];
        let apache_avro::types::Value::Record(mut fields) = read_current.read_value(&mut body)?
        else {
            anyhow::bail!("a request decodes to a record");
        };
        fields.push((
            "campaign".into(),
            apache_avro::types::Value::Union(1, Box::new(format!("outage {n}").into())),
        ));
        let mut framed = confluent_header(new_id).to_vec();
        write_newer.write_value(&mut framed, apache_avro::types::Value::Record(fields))?;
        notify_it::produce(
            &producer,
            &topics.requests(),
            &format!("{tenant}:{}", user.id),
            &framed,
        )
        .await;
        held.push(sms_sent(&tenant, request.event_id, &user));
    }
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(stopped_at.elapsed())).await;
    let (seen_during, dead_during) = run.observer.with(|seen| {
        let ids: std::collections::HashSet<Uuid> = held.iter().map(|s| s.event_id).collect();
        (
            seen.statuses
                .iter()
                .filter(|s| ids.contains(&s.event_id))
                .count(),
            seen.dead_letters.len(),
        )
    });
    tokio::task::spawn_blocking(move || down.end()).await?;
    let down_secs = stopped_at.elapsed().as_secs_f64();
    let restarted_at = Instant::now();
    sent.extend(held);
    let figures = run
        .finish_and_judge(&sent, limit_for(sent.len()), restarted_at)
        .await?;
    crate::observe::report(format_args!("{}", figures.line("registry outage")));
    crate::observe::report(format_args!(
        "registry outage: down {down_secs:.1} s; statuses of the 50 held records during it \
         {seen_during}, dead letters during it {dead_during}"
    ));
    ensure!(
        seen_during == 0,
        "{seen_during} statuses of records naming an id the registry could not answer for \
         appeared while it was down"
    );
    run.check(&figures, &sent, 0).await?;
    let dead = run.observer.with(|seen| seen.dead_letters.len());
    ensure!(dead == 0, "{dead} records were dead-lettered");
    run.finish().await;
    Ok(())
}

//! Bad and repeated input: poison pills interleaved with good records are dead-lettered exactly
//! once each while their neighbours are delivered; a request sent twice with one
//! `Idempotency-Key` is one event; every request record replayed into `notify.requests` (as a
//! producer retry or an offset reset would) is recognised by its delivery ids and sent nothing
//! twice.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use notify_it::{poll_until, read_quiet, read_until, unique, Seen};
use serde_json::json;

use crate::faults::fault_size;
use crate::harness::Settings;
use crate::run::{self, limit_for, Run};
use crate::workload::{Sent, Shape};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn poison_pills_between_good_records_are_dead_lettered_once_each() -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let shape = Shape::new(fault_size(), false);
    let run = Run::start(Settings::default(), shape).await?;
    let tenant = run.pipeline.app.tenant.clone();
    let mut poison = Vec::new();
    let mut sent = Vec::new();
    let batches = 10;
    let per_batch = shape.size.div_ceil(batches);
    for b in 0..batches {
        let range = b * per_batch..((b + 1) * per_batch).min(shape.size);
        sent.extend(run.send("poison", range).await?);
        // garbage, and a single-object header with a fingerprint nobody knows
        let key = format!("{tenant}:u{b}");
        let garbage = format!("poison {b} {}", unique("")).into_bytes();
        let mut unknown = vec![0xC3, 0x01];
        unknown.extend_from_slice(&(b as u64 + 0xDEAD_0000).to_le_bytes());
        unknown.extend_from_slice(unique("").as_bytes());
        for (topic, payload) in [
            ("requests", &garbage),
            ("deliveries.email", &unknown),
            ("deliveries.fcm", &garbage),
        ] {
            let mut payload = payload.clone();
            payload.extend_from_slice(topic.as_bytes());
            run.pipeline
                .produce_raw(topic, &[(key.clone(), payload.clone())])
                .await?;
            poison.push(payload);
        }
    }
    let sent_at = Instant::now();
    let figures = run
        .finish_and_judge(&sent, limit_for(sent.len()), sent_at)
        .await?;
    // every pill once in the DLQ, nothing else there
    let counts = || {
        std::future::ready(run.observer.with(|seen| {
            let once = poison
                .iter()
                .filter(|p| seen.dead_letters.iter().filter(|d| d == p).count() == 1)
                .count();
            (once, seen.dead_letters.len())
        }))
    };
    let every = Duration::from_millis(500);
    let (once, dlq_total) = poll_until(Duration::from_secs(60), every, counts, |(once, _)| {
        *once == poison.len()
    })
    .await
    .unwrap_or_else(|last| last);
    crate::observe::report(format_args!("{}", figures.line("poison pills")));
    crate::observe::report(format_args!(
        "poison pills: injected {}, dead-lettered once {once}, dead letters in all {dlq_total}",
        poison.len()
    ));
    run.check(&figures, &sent, 0).await?;
    ensure!(
        once == poison.len() && dlq_total == poison.len(),
        "poison pills: {once} of {} dead-lettered exactly once, {dlq_total} dead letters\n{}",
        poison.len(),
        run.pipeline.logs()
    );
    run.finish().await;
    Ok(())
}

/// Every record of `<prefix>.requests`, read from the beginning until `count` are in.
async fn read_requests(run: &Run, count: usize) -> anyhow::Result<Vec<Seen>> {
    let topic = format!("{}.requests", run.pipeline.prefix);
    let group = unique("e2e-replay");
    let consumer = notify_common::kafka::consumer(&run.pipeline.kafka(), "e2e", &group, &[&topic])?;
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    read_until(&consumer, &mut records, deadline, |r| {
        (r.len() >= count).then_some(())
    })
    .await
    .context("requests not all read")?;
    // anything more would be a request produced twice
    read_quiet(&consumer, &mut records, Duration::from_secs(3)).await;
    Ok(records)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn repeated_and_replayed_requests_are_delivered_once() -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let shape = Shape::new(200, false);
    let run = Run::start(Settings::default(), shape).await?;

    // one key, sent twice: the second answers the same event ids, marked duplicate
    let keyed = run.send("idem", 0..100).await?;
    let items: Vec<_> = (0..100).map(|j| run.item(j)).collect();
    let body = json!({ "items": items });
    let batch = "/v1/notifications/batch";
    let (status, again) = run.api.post_keyed(batch, &body, "idem-0").await?;
    ensure!(status == 207, "repeated batch answered {status}");
    for (result, first) in again["results"]
        .as_array()
        .context("results")?
        .iter()
        .zip(&keyed)
    {
        ensure!(
            result["duplicate"] == true && result["event_id"] == first.event_id.to_string(),
            "a repeated item was not recognised: {result}"
        );
    }
    let single = run.item(100);
    let mut single_ids = Vec::new();
    for _ in 0..2 {
        let (status, answer) = run
            .api
            .post_keyed("/v1/notifications", &single, "idem-single")
            .await?;
        ensure!(status == 202, "single answered {status}: {answer}");
        single_ids.push(answer["event_id"].as_str().unwrap_or_default().to_owned());
    }
    ensure!(
        single_ids[0] == single_ids[1],
        "one key gave two events: {single_ids:?}"
    );
    let single_id = notify_schemas::Uuid::parse_str(&single_ids[0])?;

    // without a key: accepted once each, then every request record is replayed
    let unkeyed_items: Vec<_> = (101..shape.size).map(|j| run.item(j)).collect();
    let unkeyed_ids = run.api.send_batch(&unkeyed_items, None).await?;
    let mut sent: Vec<Sent> = keyed;
    sent.push(run.accepted(100, single_id));
    for (j, event_id) in (101..shape.size).zip(unkeyed_ids) {
        sent.push(run.accepted(j, event_id));
    }
    let first_pass =
        crate::observe::wait_for_outcomes(&run.observer, &sent, limit_for(sent.len())).await;
    ensure!(
        first_pass == 0,
        "{first_pass} events unfinished before the replay"
    );
    let records = read_requests(&run, sent.len()).await?;
    ensure!(
        records.len() == sent.len(),
        "{} request records for {} events: a repeat was produced",
        records.len(),
        sent.len()
    );
    let replayed_at = Instant::now();
    let replay: Vec<(String, Vec<u8>)> = records
        .iter()
        .map(|r| {
            (
                String::from_utf8_lossy(&r.key).into_owned(),
                r.value.clone(),
            )
        })
        .collect();
    run.pipeline.produce_raw("requests", &replay).await?;
    // the replay reaches the dispatchers, which recognise every delivery as already sent
    let deliveries = sent
        .iter()
        .flat_map(|s| &s.expected)
        .filter(|o| o.status == notify_schemas::Status::Sent)
        .count();
    let duplicates = || {
        run.pipeline
            .metric_sum("notify_dispatch_deliveries_total", "outcome=\"duplicate\"")
    };
    let every = Duration::from_millis(500);
    let recognised = poll_until(limit_for(sent.len()), every, duplicates, |n| {
        *n >= deliveries
    })
    .await
    .unwrap_or_else(|last| last);
    crate::observe::report(format_args!(
        "idempotency and replay: {recognised} replayed deliveries recognised by the dedup {:.1} s after the replay",
        replayed_at.elapsed().as_secs_f64()
    ));
    ensure!(
        recognised >= deliveries,
        "only {recognised} of {deliveries} replayed deliveries reached the dispatchers' dedup\n{}",
        run.pipeline.logs()
    );
    let figures = run
        .finish_and_judge(&sent, limit_for(sent.len()), replayed_at)
        .await?;
    crate::observe::report(format_args!("{}", figures.line("idempotency and replay")));
    crate::observe::report(format_args!(
        "idempotency and replay: {} keyed (sent twice), 1 single (sent twice), {} unkeyed, {} records replayed",
        100,
        shape.size - 101,
        records.len()
    ));
    run.check(&figures, &sent, 0).await?;
    run.finish().await;
    Ok(())
}

//! Publishing what a batch routed, so that one record Kafka will never take cannot hold up the
//! others.
//!
//! Guarantees: `Ok` means every output of the batch is acknowledged, or was refused for good
//! and replaced by what [`Handler::set_aside`] makes of it (a dead letter and `failed`
//! statuses), which is acknowledged too. A record counts as refused only once it was refused
//! alone: records Kafka refused together with it (one broker batch) are published again on
//! their own first, so a neighbour's size never fails an innocent record. `Err` means a
//! transient failure (broker down, timeout, full queue, or the database while a refused
//! delivery's outcome is recorded): the caller publishes the whole batch again later; every
//! consumer of these topics tolerates the repeats.
//!
//! A dead letter Kafka refuses as well (a request already near the dead-letter topic's size
//! limit) is published again without its value, with header `notify-payload-omitted`; the
//! request stays readable where it was consumed from for that topic's retention.
//!
//! Not guaranteed: that a set-aside record is accepted in the end. One refused even so (a
//! status, or a bare dead letter, refused for good) is logged and counted
//! (`notify_router_set_aside_lost_total`): the one place an output can be dropped.

use notify_common::dead_letter::{DLQ_PAYLOAD_OMITTED, DLQ_STAGE};
use notify_common::publish::{PublishError, Publisher, Record};

use crate::handler::{Handler, Incoming, RouteError, Routed};
use crate::metrics as m;
use crate::tally::Tally;

/// Why a batch did not go through this time; it is retried, never skipped.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A dependency of the routing decision failed.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// Kafka failed for the moment.
    #[error("produce failed: {0}")]
    Publish(#[from] PublishError),
}

impl BatchError {
    /// The dependency at fault, as named in `/readyz`.
    pub fn dependency(&self) -> &'static str {
        match self {
            BatchError::Route(err) => err.dependency(),
            BatchError::Publish(_) => "kafka",
        }
    }
}

/// What a batch's publishing came to.
#[derive(Debug, Default)]
pub struct Published {
    /// How many outputs Kafka refused for good and were set aside.
    pub set_aside: usize,
    /// What the batch counts as, set-aside records included: to be recorded once its offsets
    /// are stored.
    pub tally: Tally,
}

/// Publishes `routed` (the outputs of each record of `batch`, in batch order).
pub async fn publish_routed(
    publisher: &dyn Publisher,
    handler: &Handler,
    batch: &[Incoming],
    routed: &[Routed],
) -> Result<Published, BatchError> {
    let mut tally = Tally::default();
    for record in routed {
        tally.merge(record.tally.clone());
    }
    let flat: Vec<(usize, &Record)> = routed
        .iter()
        .enumerate()
        .flat_map(|(source, outputs)| outputs.records.iter().map(move |record| (source, record)))
        .collect();
    let records: Vec<Record> = flat.iter().map(|(_, record)| (*record).clone()).collect();
    let results = publisher.publish_each(&records).await;
    let mut suspects = Vec::new();
    for ((source, record), result) in flat.iter().zip(results) {
        match result {
            Ok(()) => {}
            Err(err) if err.is_permanent() => suspects.push((*source, *record)),
            Err(err) => return Err(err.into()),
        }
    }
    // each suspect alone, one after the other, so no broker batch mixes two of them
    let mut refused: Vec<(usize, &Record, PublishError)> = Vec::new();
    for (source, record) in suspects {
        match publisher.publish(std::slice::from_ref(record)).await {
            Ok(()) => {}
            Err(err) if err.is_permanent() => refused.push((source, record, err)),
            Err(err) => return Err(err.into()),
        }
    }
    let mut replacements = Vec::new();
    for (index, source) in batch.iter().enumerate() {
        let of_source: Vec<(&Record, &PublishError)> = refused
            .iter()
            .filter(|(s, _, _)| *s == index)
            .map(|(_, record, err)| (*record, err))
            .collect();
        if !of_source.is_empty() {
            let set_aside = handler.set_aside(source, &of_source).await?;
            replacements.extend(set_aside.records);
            tally.merge(set_aside.tally);
        }
    }
    let mut without_value = Vec::new();
    for (record, result) in replacements
        .iter()
        .zip(publisher.publish_each(&replacements).await)
    {
        match result {
            Ok(()) => {}
            // the dead letter's value is the request as consumed; it stays readable there
            Err(err) if err.is_permanent() && record.header_value(DLQ_STAGE).is_some() => {
                let mut bare = record
                    .clone()
                    .header(DLQ_PAYLOAD_OMITTED, record.payload.len().to_string());
                bare.payload.clear();
                without_value.push(bare);
            }
            Err(err) if err.is_permanent() => lost(record, &err),
            Err(err) => return Err(err.into()),
        }
    }
    for (record, result) in without_value
        .iter()
        .zip(publisher.publish_each(&without_value).await)
    {
        match result {
            Ok(()) => {}
            Err(err) if err.is_permanent() => lost(record, &err),
            Err(err) => return Err(err.into()),
        }
    }
    for (_, record, err) in &refused {
        metrics::counter!(m::REFUSED_TOTAL, "topic" => record.topic.clone()).increment(1);
        tracing::warn!(error = %err, topic = %record.topic, key = %record.key_str(), "output refused by Kafka; set aside");
    }
    Ok(Published {
        set_aside: refused.len(),
        tally,
    })
}

fn lost(record: &Record, err: &PublishError) {
    metrics::counter!(m::SET_ASIDE_LOST_TOTAL).increment(1);
    tracing::error!(error = %err, topic = %record.topic, key = %record.key_str(), "set-aside record refused as well; it is lost");
}

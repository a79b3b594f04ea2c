//! The dead-letter record the dispatchers and the retry mover write to `notify.dlq`.
//!
//! Guarantees: the original key and the given value unchanged (replaying a dead letter is
//! producing its value again); the stage, the kind of error, its text and where the record
//! came from in the headers of [`notify_common::dead_letter`]. The caller adds what only it knows
//! (the dispatcher its channel).

use notify_common::dead_letter::{
    DLQ_ERROR, DLQ_OFFSET, DLQ_PARTITION, DLQ_REASON, DLQ_STAGE, DLQ_TOPIC,
};
use notify_common::publish;

use crate::handler::Record;

/// The dead letter of `record` on `dlq_topic`, written by `stage`, with `payload` as its value.
pub(crate) fn dead_letter(
    dlq_topic: String,
    stage: &'static str,
    record: &Record,
    payload: Vec<u8>,
    error: &str,
    reason: &str,
) -> publish::Record {
    publish::Record::new(dlq_topic, record.key.clone().unwrap_or_default(), payload)
        .header(DLQ_STAGE, stage)
        .header(DLQ_ERROR, error)
        .header(DLQ_REASON, reason)
        .header(DLQ_TOPIC, record.topic.clone())
        .header(DLQ_PARTITION, record.partition.to_string())
        .header(DLQ_OFFSET, record.offset.to_string())
}

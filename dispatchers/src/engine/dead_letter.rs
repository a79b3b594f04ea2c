//! The dead-letter record the dispatchers and the retry mover write to `notify.dlq`.
//!
//! Guarantees: the original key and the given value unchanged (replaying a dead letter is
//! producing its value again); the stage, the kind of error, its text and where the record
//! came from in the headers of [`notify_common::dead_letter`]. The caller adds what only it knows
//! (the dispatcher its channel).

use notify_common::dead_letter::{self as dlq, Origin};
use notify_common::publish;

use crate::handler::Record;

/// Where `record` was read, as a dead letter names it.
pub(crate) fn origin(record: &Record) -> Origin<'_> {
    Origin {
        topic: &record.topic,
        partition: record.partition,
        offset: record.offset,
        key: record.key.as_deref(),
    }
}

/// The dead letter of `record` on `dlq_topic`, written by `stage`, with `payload` as its value.
pub(crate) fn dead_letter(
    dlq_topic: String,
    stage: &'static str,
    record: &Record,
    payload: Vec<u8>,
    error: &str,
    reason: &str,
) -> publish::Record {
    dlq::record(dlq_topic, stage, origin(record), payload, error, reason)
}

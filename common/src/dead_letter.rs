//! Header names of dead-letter records on `notify.dlq`, shared by every stage that writes them
//! and the operator tools that read them.
//!
//! A dead letter's value is the original record's value, byte for byte, and its key the
//! original key, so replaying one is producing its value again; why it was dead-lettered and
//! where it came from travel in these headers.

/// Header naming the stage that dead-lettered a record (`router`, `dispatcher`, ...).
pub const DLQ_STAGE: &str = "notify-stage";
/// Header with the fixed kind of error (`decode`, `unknown_tenant`, `retries_exhausted`, ...).
pub const DLQ_ERROR: &str = "notify-error";
/// Header with the error's text.
pub const DLQ_REASON: &str = "notify-reason";
/// Headers locating the original record.
pub const DLQ_TOPIC: &str = "notify-original-topic";
/// See [`DLQ_TOPIC`].
pub const DLQ_PARTITION: &str = "notify-original-partition";
/// See [`DLQ_TOPIC`].
pub const DLQ_OFFSET: &str = "notify-original-offset";
/// Header with the delivery channel, on dead letters of the dispatchers.
pub const DLQ_CHANNEL: &str = "notify-channel";
/// Set when Kafka refused the dead letter with its value: the value's size in bytes. The value
/// is then empty; the original record stays readable at its topic, partition and offset for the
/// topic's retention.
pub const DLQ_PAYLOAD_OMITTED: &str = "notify-payload-omitted";

/// Where a dead-lettered record was read: its topic, partition, offset and key.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// Topic it was read from.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, if any.
    pub key: Option<&'a [u8]>,
}

/// The dead letter of the record at `origin` on `dlq_topic`, written by `stage`: `payload` as
/// its value (the original's, unless the caller has a reason), the original key, and the
/// headers above. The caller adds what only it knows (the dispatcher its channel).
pub fn record(
    dlq_topic: String,
    stage: &'static str,
    origin: Origin<'_>,
    payload: Vec<u8>,
    error: &str,
    reason: &str,
) -> crate::publish::Record {
    crate::publish::Record::new(dlq_topic, origin.key.unwrap_or_default(), payload)
        .header(DLQ_STAGE, stage)
        .header(DLQ_ERROR, error)
        .header(DLQ_REASON, reason)
        .header(DLQ_TOPIC, origin.topic)
        .header(DLQ_PARTITION, origin.partition.to_string())
        .header(DLQ_OFFSET, origin.offset.to_string())
}

/// Logs that the record at `origin` was dead-lettered, at most as often as `pacer` allows (a
/// flood of poison records must not flood the log); the lines held back are counted in the
/// next one.
pub fn log(
    pacer: &crate::log_pacer::LogPacer,
    stage: &str,
    origin: Origin<'_>,
    error: &str,
    reason: &str,
) {
    if let Some(held_back) = pacer.allow() {
        tracing::warn!(
            stage,
            error,
            reason,
            topic = origin.topic,
            partition = origin.partition,
            offset = origin.offset,
            held_back,
            "record dead-lettered"
        );
    }
}

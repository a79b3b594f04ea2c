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

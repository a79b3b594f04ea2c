//! The records the dispatchers produce (statuses, retries, dead letters, moved retries) go
//! through the pipeline's one publishing path, [`notify_common::publish`].

pub use notify_common::publish::{
    KafkaPublisher, MemoryPublisher, PublishError, Publisher, Record as Output,
};

//! A Confluent-compatible schema registry: the HTTP client ([`client`]) and the codecs' view of
//! it ([`lookup`]).
//!
//! Subjects follow the topic-name strategy, `<topic>-value`, as the standard serializers'
//! default does, so a producer using Confluent's `AvroSerializer` finds the schemas
//! `notify schemas register` put there.

pub mod client;
pub mod compatibility;
pub mod lookup;

pub use client::{RegistryClient, RegistryError, RegistrySettings};
pub use compatibility::Compatibility;
pub use lookup::{RegistryLookup, SchemaSetupError, StageSchemas};

/// The subject of a topic's record values under the topic-name strategy.
pub fn subject_for(topic: &str) -> String {
    format!("{topic}-value")
}

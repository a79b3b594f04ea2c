//! Schema registry lookups for Confluent-framed records.
//!
//! Guarantees: the codec asks a [`SchemaLookup`] at most once per schema id it successfully
//! prepares, and never for single-object records. [`InMemorySchemaLookup`] is the fake and the
//! simple production choice (register the ids you expect at startup).
//!
//! The HTTP registry client is [`crate::registry::RegistryLookup`]: it implements
//! [`SchemaLookup`] over a cache that consumers fill before decoding, since the codec calls the
//! lookup synchronously.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use apache_avro::Schema;

/// Why a lookup could not answer; the codec reports it as a transient
/// [`crate::CodecError::SchemaLookup`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LookupError(pub String);

/// Maps a schema registry id to the writer schema it names.
pub trait SchemaLookup: Send + Sync + fmt::Debug {
    /// The writer schema registered under `schema_id`.
    ///
    /// `Ok(None)` means the registry authoritatively has no such id (the record is dead-lettered);
    /// `Err` means it could not tell right now (the record is retried).
    fn writer_schema(&self, schema_id: u32) -> Result<Option<Schema>, LookupError>;
}

/// A [`SchemaLookup`] backed by a map filled by the caller.
#[derive(Debug, Default)]
pub struct InMemorySchemaLookup {
    schemas: RwLock<HashMap<u32, Schema>>,
}

impl InMemorySchemaLookup {
    /// An empty lookup.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register (or replace) the schema under `schema_id`.
    pub fn insert(&self, schema_id: u32, schema: Schema) {
        let mut schemas = self
            .schemas
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        schemas.insert(schema_id, schema);
    }

    /// Builder form of [`InMemorySchemaLookup::insert`].
    pub fn with(self, schema_id: u32, schema: Schema) -> Self {
        self.insert(schema_id, schema);
        self
    }
}

impl SchemaLookup for InMemorySchemaLookup {
    fn writer_schema(&self, schema_id: u32) -> Result<Option<Schema>, LookupError> {
        let schemas = self
            .schemas
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(schemas.get(&schema_id).cloned())
    }
}

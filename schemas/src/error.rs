//! Errors of the codec.
//!
//! Guarantees: every way a record can fail to encode or decode is a [`CodecError`] variant, and
//! [`CodecError::is_permanent`] says whether trying the same bytes again could ever succeed. A
//! consumer sends permanent failures to the dead-letter topic and retries the rest.

use std::io;

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The record has no bytes at all.
    #[error("record is empty")]
    Empty,
    /// The record ends inside its header or its datum.
    #[error("record is truncated")]
    Truncated,
    /// The record starts with neither the single-object marker nor the Confluent magic byte.
    #[error("unknown framing magic {found:02x?}")]
    BadMagic {
        /// The first two bytes (0 where absent).
        found: [u8; 2],
    },
    /// A single-object record names a writer schema this codec does not know.
    #[error("unknown writer schema fingerprint {0:#018x}")]
    UnknownFingerprint(u64),
    /// A Confluent-framed record names a schema id the lookup does not know.
    #[error("unknown schema registry id {0}")]
    UnknownSchemaId(u32),
    /// A Confluent-framed record arrived but no schema lookup is attached.
    #[error("confluent-framed record but no schema registry is configured")]
    NoSchemaRegistry,
    /// The schema lookup failed for a reason that may pass (registry unreachable).
    #[error("schema registry lookup failed: {0}")]
    SchemaLookup(String),
    /// The writer schema cannot be resolved to the reader schema.
    #[error("writer schema {writer} cannot be read as {reader}: {reason}")]
    IncompatibleSchema {
        /// The writer schema, as a fingerprint or registry id.
        writer: String,
        /// Full name of the reader record.
        reader: &'static str,
        /// What the compatibility check found.
        reason: String,
    },
    /// The datum does not decode under its writer schema.
    #[error("malformed avro datum: {0}")]
    Decode(apache_avro::Error),
    /// The datum decoded but bytes were left after it.
    #[error("{0} trailing bytes after the avro datum")]
    TrailingBytes(usize),
    /// The value does not fit the schema (a field the schema constrains, e.g. a non-UUID id).
    #[error("value does not fit the schema: {0}")]
    Encode(apache_avro::Error),
    /// A schema given to the codec could not be prepared.
    #[error("invalid schema: {0}")]
    Schema(apache_avro::Error),
}

impl CodecError {
    /// True when the same input can never succeed, so a consumer must dead-letter the record
    /// instead of retrying it. Only a failed schema lookup is transient.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, CodecError::SchemaLookup(_))
    }

    /// A short, fixed label for metrics (`error_type`), never containing data.
    pub fn kind(&self) -> &'static str {
        match self {
            CodecError::Empty => "empty",
            CodecError::Truncated => "truncated",
            CodecError::BadMagic { .. } => "bad_magic",
            CodecError::UnknownFingerprint(_) => "unknown_fingerprint",
            CodecError::UnknownSchemaId(_) => "unknown_schema_id",
            CodecError::NoSchemaRegistry => "no_schema_registry",
            CodecError::SchemaLookup(_) => "schema_lookup",
            CodecError::IncompatibleSchema { .. } => "incompatible_schema",
            CodecError::Decode(_) => "decode",
            CodecError::TrailingBytes(_) => "trailing_bytes",
            CodecError::Encode(_) => "encode",
            CodecError::Schema(_) => "schema",
        }
    }

    /// Classify a decoder error: running out of input is [`CodecError::Truncated`], anything
    /// else is [`CodecError::Decode`].
    pub(crate) fn from_decode(err: apache_avro::Error) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                if io.kind() == io::ErrorKind::UnexpectedEof {
                    return CodecError::Truncated;
                }
            }
            source = e.source();
        }
        CodecError::Decode(err)
    }
}

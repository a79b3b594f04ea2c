//! Encode and decode [`Record`]s in their wire framings.
//!
//! Guarantees:
//! - A [`Codec`] resolves every schema it uses once, when it is built or when it first meets a
//!   registry id; encoding and decoding never re-resolve a schema.
//! - Records written with the current schema decode through apache-avro's schema-aware serde
//!   deserializer, without an intermediate `Value`. Records written with another registered
//!   schema are decoded as a `Value`, resolved to the current schema and deserialized from it;
//!   this costs several times more and is meant for rolling upgrades, not steady state.
//! - `decode` never panics and returns a typed [`CodecError`] for every malformed input; no
//!   length prefix makes it allocate more than [`MAX_ALLOCATION_BYTES`] at once.
//! - What `encode` produces, `decode` of the same codec accepts.
//!
//! Not guaranteed: semantic validity of a decoded record beyond its schema.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, PoisonError, RwLock};

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::ResolvedSchema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::{GenericSingleObjectReader, Schema};

use crate::contract::{fingerprint, Record};
use crate::error::CodecError;
use crate::framing::{self, Header};
use crate::lookup::SchemaLookup;

/// Largest single allocation the Avro decoder may make for one string, byte array or collection
/// (4 MiB). A record is at most a Kafka message (1 MiB by default), so anything larger is a
/// crafted or corrupt length prefix.
pub const MAX_ALLOCATION_BYTES: usize = 4 * 1024 * 1024;

/// Set apache-avro's process-wide allocation limit to [`MAX_ALLOCATION_BYTES`] and return the
/// limit in force. apache-avro keeps the first value it is given (its default is 512 MiB, fixed on
/// first decode), so this must run before anything else decodes Avro; [`Codec::new`] calls it.
pub fn init_decode_limits() -> usize {
    apache_avro::util::max_allocation_bytes(MAX_ALLOCATION_BYTES)
}

/// A writer schema other than the current one, prepared for resolution to the current one.
struct ForeignWriter {
    // A single-object reader with an empty expected header is apache-avro's datum reader that
    // owns its (resolved) schema; the codec has already consumed the real header.
    datum: GenericSingleObjectReader,
}

/// What a registry id resolved to, cached per id.
#[derive(Clone)]
enum IdEntry {
    Current,
    Foreign(Arc<ForeignWriter>),
    Incompatible(Arc<str>),
}

/// Encoder and decoder of one record type. Build it once per process (it is `Send + Sync`; share
/// it behind an `Arc` or a `static`) and call it per record.
pub struct Codec<T: Record> {
    writer: GenericDatumWriter<'static>,
    current: GenericDatumReader<'static>,
    reader_names: ResolvedSchema<'static>,
    header: Vec<u8>,
    foreign: HashMap<u64, Arc<ForeignWriter>>,
    lookup: Option<Arc<dyn SchemaLookup>>,
    by_id: RwLock<HashMap<u32, IdEntry>>,
    _record: PhantomData<fn() -> T>,
}

impl<T: Record> Codec<T> {
    /// A codec that writes and reads `T`'s current schema.
    pub fn new() -> Result<Self, CodecError> {
        init_decode_limits();
        let schema = T::schema();
        Ok(Self {
            writer: GenericDatumWriter::builder(schema)
                .build()
                .map_err(CodecError::Schema)?,
            current: GenericDatumReader::builder(schema)
                .build()
                .map_err(CodecError::Schema)?,
            reader_names: ResolvedSchema::new(schema).map_err(CodecError::Schema)?,
            header: framing::single_object_header(T::fingerprint()).to_vec(),
            foreign: HashMap::new(),
            lookup: None,
            by_id: RwLock::new(HashMap::new()),
            _record: PhantomData,
        })
    }

    /// Also accept single-object records written with `writer` (an older or newer version of
    /// `T`'s schema), resolving them to the current schema.
    ///
    /// Fails with [`CodecError::IncompatibleSchema`] if Avro resolution cannot read `writer` as
    /// the current schema at all. Registering the current schema is a no-op.
    pub fn with_writer_schema(mut self, writer: Schema) -> Result<Self, CodecError> {
        let fp = fingerprint(&writer);
        if fp != T::fingerprint() {
            let prepared = prepare_foreign::<T>(writer, || format!("{fp:#018x}"))?;
            self.foreign.insert(fp, prepared);
        }
        Ok(self)
    }

    /// Also accept Confluent-framed records, asking `lookup` for the writer schema of each
    /// registry id the first time it appears.
    pub fn with_schema_lookup(mut self, lookup: Arc<dyn SchemaLookup>) -> Self {
        self.lookup = Some(lookup);
        self
    }

    /// Write Confluent framing (`00`, `schema_id`, datum) from now on instead of single-object
    /// encoding, and read `schema_id` as the current schema without asking the lookup.
    /// `schema_id` must be the registry id of `T`'s current schema (the registry client resolves
    /// it from the schema itself); the codec cannot check that.
    pub fn with_confluent_writes(mut self, schema_id: u32) -> Self {
        self.header = framing::confluent_header(schema_id).to_vec();
        self.by_id
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(schema_id, IdEntry::Current);
        self
    }

    /// The registry id this codec writes, if it writes Confluent framing.
    pub fn confluent_id(&self) -> Option<u32> {
        match framing::split(&self.header) {
            Ok((Header::Confluent { schema_id }, _)) => Some(schema_id),
            _ => None,
        }
    }

    /// The record in this codec's framing: single-object encoding (`C3 01`, fingerprint,
    /// datum) unless [`Codec::with_confluent_writes`] switched it to Confluent framing.
    pub fn encode(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(value, &mut out)?;
        Ok(out)
    }

    /// Append the encoding of `value` (see [`Codec::encode`]) to `out`. On error `out` is left as
    /// it was.
    pub fn encode_into(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        out.extend_from_slice(&self.header);
        self.write_datum(value, out, start)
    }

    /// Confluent framing of `value`: `00`, `schema_id` big-endian, datum. `schema_id` must be the
    /// registry id of `T`'s current schema; the codec cannot check that.
    pub fn encode_confluent(&self, value: &T, schema_id: u32) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&framing::confluent_header(schema_id));
        self.write_datum(value, &mut out, 0)?;
        Ok(out)
    }

    fn write_datum(&self, value: &T, out: &mut Vec<u8>, start: usize) -> Result<(), CodecError> {
        match self.writer.write_ser(out, value) {
            Ok(_) => Ok(()),
            Err(err) => {
                out.truncate(start);
                Err(CodecError::Encode(err))
            }
        }
    }

    /// Decode a single-object or Confluent-framed record.
    pub fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let (header, datum) = framing::split(bytes)?;
        match header {
            Header::SingleObject { fingerprint } if fingerprint == T::fingerprint() => {
                self.decode_current(datum)
            }
            Header::SingleObject { fingerprint } => match self.foreign.get(&fingerprint) {
                Some(writer) => self.decode_foreign(writer, datum),
                None => Err(CodecError::UnknownFingerprint(fingerprint)),
            },
            Header::Confluent { schema_id } => match self.entry_for_id(schema_id)? {
                IdEntry::Current => self.decode_current(datum),
                IdEntry::Foreign(writer) => self.decode_foreign(&writer, datum),
                IdEntry::Incompatible(reason) => Err(CodecError::IncompatibleSchema {
                    writer: format!("registry id {schema_id}"),
                    reader: T::FULL_NAME,
                    reason: reason.to_string(),
                }),
            },
        }
    }

    fn decode_current(&self, mut datum: &[u8]) -> Result<T, CodecError> {
        // No reader schema is set on `current`: `read_deser` panics when one is.
        let value = self
            .current
            .read_deser::<T>(&mut datum)
            .map_err(CodecError::from_decode)?;
        no_trailing(datum)?;
        Ok(value)
    }

    fn decode_foreign(&self, writer: &ForeignWriter, mut datum: &[u8]) -> Result<T, CodecError> {
        let value = writer
            .datum
            .read_value(&mut datum)
            .map_err(CodecError::from_decode)?;
        no_trailing(datum)?;
        let value = value
            .resolve_with_names(T::schema(), self.reader_names.get_names())
            .map_err(CodecError::Decode)?;
        apache_avro::from_value::<T>(&value).map_err(CodecError::Decode)
    }

    fn entry_for_id(&self, schema_id: u32) -> Result<IdEntry, CodecError> {
        let cached = self
            .by_id
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&schema_id)
            .cloned();
        if let Some(entry) = cached {
            return Ok(entry);
        }
        let lookup = self.lookup.as_ref().ok_or(CodecError::NoSchemaRegistry)?;
        let schema = lookup
            .writer_schema(schema_id)
            .map_err(|e| CodecError::SchemaLookup(e.0))?
            .ok_or(CodecError::UnknownSchemaId(schema_id))?;
        let fp = fingerprint(&schema);
        let entry = if fp == T::fingerprint() {
            IdEntry::Current
        } else if let Some(known) = self.foreign.get(&fp) {
            IdEntry::Foreign(Arc::clone(known))
        } else {
            match prepare_foreign::<T>(schema, || format!("registry id {schema_id}")) {
                Ok(prepared) => IdEntry::Foreign(prepared),
                Err(CodecError::IncompatibleSchema { reason, .. }) => {
                    IdEntry::Incompatible(reason.into())
                }
                Err(other) => return Err(other),
            }
        };
        // Only ids the lookup knows are cached, so the map is bounded by the registry's size.
        self.by_id
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(schema_id, entry.clone());
        Ok(entry)
    }
}

fn prepare_foreign<T: Record>(
    writer: Schema,
    describe: impl Fn() -> String,
) -> Result<Arc<ForeignWriter>, CodecError> {
    if let Err(err) = SchemaCompatibility::can_read(&writer, T::schema()) {
        return Err(CodecError::IncompatibleSchema {
            writer: describe(),
            reader: T::FULL_NAME,
            reason: err.to_string(),
        });
    }
    let datum = GenericSingleObjectReader::builder()
        .schema(writer)
        .header(Vec::new())
        .build()
        .map_err(CodecError::Schema)?;
    Ok(Arc::new(ForeignWriter { datum }))
}

fn no_trailing(rest: &[u8]) -> Result<(), CodecError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(CodecError::TrailingBytes(rest.len()))
    }
}

impl<T: Record> fmt::Debug for Codec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut foreign: Vec<_> = self.foreign.keys().copied().collect();
        foreign.sort_unstable();
        f.debug_struct("Codec")
            .field("record", &T::FULL_NAME)
            .field("fingerprint", &format_args!("{:#018x}", T::fingerprint()))
            .field("foreign_fingerprints", &foreign)
            .field("lookup", &self.lookup)
            .field("writes_confluent_id", &self.confluent_id())
            .finish_non_exhaustive()
    }
}

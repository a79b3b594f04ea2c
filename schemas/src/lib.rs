//! Avro data contracts of the notification pipeline.
//!
//! The `.avsc` files in `schemas/avro/` are the source of truth: `NotificationRequest` on
//! `notify.requests`, `Delivery` on `notify.deliveries.<channel>` and the retry tiers,
//! `DeliveryStatus` on `notify.status`. This crate embeds them, mirrors them as Rust types
//! ([`records`]), and encodes and decodes them on the wire ([`Codec`]): Avro single-object
//! encoding by default, Confluent framing readable when a [`SchemaLookup`] is attached and
//! written when asked for; [`registry`] is the client of a Confluent-compatible registry.
//!
//! ```
//! use notify_schemas::{samples, Codec, DeliveryStatus};
//!
//! let codec = Codec::<DeliveryStatus>::new()?; // once per process
//! let status = samples::status_sent();
//! let bytes = codec.encode(&status)?;
//! assert_eq!(&bytes[..2], [0xC3, 0x01]);
//! assert_eq!(codec.decode(&bytes)?, status);
//! # Ok::<(), notify_schemas::CodecError>(())
//! ```
//!
//! Every decode failure is a [`CodecError`]; [`CodecError::is_permanent`] tells a consumer to
//! dead-letter the record rather than retry it.

pub mod codec;
pub mod contract;
pub mod error;
pub mod framing;
pub mod id;
pub mod limits;
pub mod lookup;
pub mod records;
pub mod registry;
pub mod samples;
pub mod sms;
mod uuid_text;

pub use apache_avro::Schema;
pub use codec::{init_decode_limits, Codec, MAX_ALLOCATION_BYTES};
pub use contract::{fingerprint, Record, NAMESPACE};
pub use error::CodecError;
pub use framing::Header;
pub use id::delivery_id;
pub use lookup::{InMemorySchemaLookup, LookupError, SchemaLookup};
pub use records::*;
pub use uuid::Uuid;

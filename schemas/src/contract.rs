//! The embedded `.avsc` files and the [`Record`] trait tying each Rust type to its schema.
//!
//! Guarantees: each schema is the `.avsc` file compiled into the binary (`include_str!`), parsed
//! and fingerprinted once per process, on first use. The files are checked by tests, so parsing
//! them cannot fail in a build that passed them.
//!
//! Not guaranteed here: that the Rust types match the files; the `contract` tests check that.

use std::sync::LazyLock;

use apache_avro::rabin::Rabin;
use apache_avro::Schema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::records::{Delivery, DeliveryStatus, NotificationRequest};

/// Namespace of every record of this contract version.
pub const NAMESPACE: &str = "io.notify.v1";

/// A top-level Avro record of the pipeline: a Rust type bound to its embedded schema.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Full Avro name, e.g. `io.notify.v1.Delivery`.
    const FULL_NAME: &'static str;

    /// The `.avsc` text as shipped in `schemas/avro/`.
    fn schema_json() -> &'static str;

    /// The parsed schema, parsed once per process.
    fn schema() -> &'static Schema;

    /// CRC-64-AVRO (Rabin) fingerprint of the schema's parsing canonical form, as written in
    /// single-object headers.
    fn fingerprint() -> u64;
}

/// CRC-64-AVRO (Rabin) fingerprint of a schema's parsing canonical form, as the Avro
/// specification defines it, so other languages' writers (Java, fastavro, ...) and ours agree.
///
/// apache-avro 0.22 leaves an annotated primitive such as `{"type": "string", "logicalType":
/// "uuid"}` as `{"type":"string"}` in its canonical form, where the specification's
/// PRIMITIVES rule asks for plain `"string"`; that changes the fingerprint. The form is
/// normalised here before hashing.
pub fn fingerprint(schema: &Schema) -> u64 {
    use digest::Digest as _;
    let digest = Rabin::digest(spec_canonical_form(schema).as_bytes());
    let mut bytes = [0u8; 8];
    // Rabin's digest is always 8 bytes (the little-endian form of the fingerprint)
    for (dst, src) in bytes.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    u64::from_le_bytes(bytes)
}

/// The parsing canonical form of the Avro specification (see [`fingerprint`]).
pub fn spec_canonical_form(schema: &Schema) -> String {
    // the canonical form has no whitespace, so an annotated primitive that lost its
    // annotations is exactly `{"type":"<name>"}`
    let mut form = schema.canonical_form();
    for primitive in PRIMITIVES {
        form = form.replace(
            &format!(r#"{{"type":"{primitive}"}}"#),
            &format!(r#""{primitive}""#),
        );
    }
    form
}

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

struct Embedded {
    schema: Schema,
    fingerprint: u64,
}

impl Embedded {
    fn parse(json: &'static str) -> Self {
        // The files are constants of this crate and `contract` tests parse each of them; an
        // error here is a build that skipped its tests, not bad input.
        let schema = Schema::parse_str(json).expect("embedded .avsc must parse");
        let fingerprint = fingerprint(&schema);
        Self {
            schema,
            fingerprint,
        }
    }
}

macro_rules! embed_record {
    ($ty:ty, $name:literal, $file:literal) => {
        impl Record for $ty {
            const FULL_NAME: &'static str = $name;

            fn schema_json() -> &'static str {
                include_str!(concat!("../avro/", $file))
            }

            fn schema() -> &'static Schema {
                &Self::embedded().schema
            }

            fn fingerprint() -> u64 {
                Self::embedded().fingerprint
            }
        }

        impl $ty {
            fn embedded() -> &'static Embedded {
                static EMBEDDED: LazyLock<Embedded> =
                    LazyLock::new(|| Embedded::parse(<$ty as Record>::schema_json()));
                &EMBEDDED
            }
        }
    };
}

embed_record!(
    NotificationRequest,
    "io.notify.v1.NotificationRequest",
    "notification_request.avsc"
);
embed_record!(Delivery, "io.notify.v1.Delivery", "delivery.avsc");
embed_record!(
    DeliveryStatus,
    "io.notify.v1.DeliveryStatus",
    "delivery_status.avsc"
);

#[cfg(test)]
mod fingerprint_tests {
    use super::*;

    /// Vector computed with fastavro 1.13 (`fastavro.schema.fingerprint(pcf, "CRC-64-AVRO")`),
    /// an independent implementation of the specification.
    #[test]
    fn matches_an_independent_implementation_on_logical_types() {
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"R","namespace":"t","fields":[
                {"name":"id","type":{"type":"string","logicalType":"uuid"}},
                {"name":"at","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null}]}"#,
        )
        .expect("schema");
        assert_eq!(
            spec_canonical_form(&schema),
            r#"{"name":"t.R","type":"record","fields":[{"name":"id","type":"string"},{"name":"at","type":["null","long"]}]}"#
        );
        let hex: String = fingerprint(&schema)
            .to_le_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, "d2c76c6d53347d10");
    }
}

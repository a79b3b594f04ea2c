//! Serde for [`Uuid`] fields whose Avro type is `{"type": "string", "logicalType": "uuid"}`.
//!
//! Guarantees: a `Uuid` is always written as hyphenated lowercase text and read from any text
//! `Uuid::try_parse` accepts. `Uuid`'s own impls switch between text and 16 raw bytes on the
//! serializer's human-readable flag, which apache-avro sets process-wide; these never do.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

pub(crate) fn serialize<S: Serializer>(uuid: &Uuid, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(uuid.hyphenated().encode_lower(&mut Uuid::encode_buffer()))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Uuid, D::Error> {
    deserializer.deserialize_str(UuidText)
}

struct UuidText;

impl Visitor<'_> for UuidText {
    type Value = Uuid;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a uuid as text")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Uuid, E> {
        Uuid::try_parse(v).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// The same for `Option<Uuid>` (`["null", uuid]`).
pub(crate) mod option {
    use super::*;

    struct Text(Uuid);

    impl Serialize for Text {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            super::serialize(&self.0, serializer)
        }
    }

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            super::deserialize(deserializer).map(Text)
        }
    }

    pub(crate) fn serialize<S: Serializer>(
        uuid: &Option<Uuid>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match uuid {
            Some(uuid) => serializer.serialize_some(&Text(*uuid)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Uuid>, D::Error> {
        Ok(Option::<Text>::deserialize(deserializer)?.map(|t| t.0))
    }
}

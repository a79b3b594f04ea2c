//! Wire framings around an Avro datum.
//!
//! - Avro single-object encoding (the default): `C3 01`, then the writer schema's CRC-64-AVRO
//!   (Rabin) fingerprint as 8 little-endian bytes, then the datum.
//! - Confluent framing (read, and written on request): `00`, then the writer schema's registry id
//!   as 4 big-endian bytes, then the datum.
//!
//! Guarantees: [`split`] looks only at the header, never reads past the input and never panics;
//! every input is either a header plus the rest of the bytes or a typed [`CodecError`].

use crate::error::CodecError;

/// Marker that starts an Avro single-object encoded record.
pub const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
/// Length of a single-object header (marker + fingerprint).
pub const SINGLE_OBJECT_HEADER_LEN: usize = 10;
/// Byte that starts a Confluent-framed record.
pub const CONFLUENT_MAGIC: u8 = 0x00;
/// Length of a Confluent header (magic + schema id).
pub const CONFLUENT_HEADER_LEN: usize = 5;

/// Which writer schema a record names in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Single-object encoding: the writer schema's Rabin fingerprint.
    SingleObject {
        /// CRC-64-AVRO fingerprint of the writer schema.
        fingerprint: u64,
    },
    /// Confluent framing: the writer schema's id in a schema registry.
    Confluent {
        /// Registry id of the writer schema.
        schema_id: u32,
    },
}

/// Split a framed record into its header and the datum that follows.
pub fn split(bytes: &[u8]) -> Result<(Header, &[u8]), CodecError> {
    match bytes {
        [] => Err(CodecError::Empty),
        [0xC3] => Err(CodecError::Truncated),
        [0xC3, 0x01, rest @ ..] => {
            let (fp, datum) = rest.split_first_chunk::<8>().ok_or(CodecError::Truncated)?;
            Ok((
                Header::SingleObject {
                    fingerprint: u64::from_le_bytes(*fp),
                },
                datum,
            ))
        }
        [CONFLUENT_MAGIC, rest @ ..] => {
            let (id, datum) = rest.split_first_chunk::<4>().ok_or(CodecError::Truncated)?;
            Ok((
                Header::Confluent {
                    schema_id: u32::from_be_bytes(*id),
                },
                datum,
            ))
        }
        [first, rest @ ..] => Err(CodecError::BadMagic {
            found: [*first, rest.first().copied().unwrap_or(0)],
        }),
    }
}

/// The single-object header for a writer schema fingerprint.
pub fn single_object_header(fingerprint: u64) -> [u8; SINGLE_OBJECT_HEADER_LEN] {
    let mut header = [0u8; SINGLE_OBJECT_HEADER_LEN];
    header[..2].copy_from_slice(&SINGLE_OBJECT_MAGIC);
    header[2..].copy_from_slice(&fingerprint.to_le_bytes());
    header
}

/// The Confluent header for a registry schema id.
pub fn confluent_header(schema_id: u32) -> [u8; CONFLUENT_HEADER_LEN] {
    let mut header = [0u8; CONFLUENT_HEADER_LEN];
    header[0] = CONFLUENT_MAGIC;
    header[1..].copy_from_slice(&schema_id.to_be_bytes());
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_object_header_round_trips() {
        let fp = 0x0102_0304_0506_0708;
        let mut framed = single_object_header(fp).to_vec();
        assert_eq!(framed, [0xC3, 0x01, 8, 7, 6, 5, 4, 3, 2, 1]);
        framed.extend_from_slice(b"datum");
        let (header, datum) = split(&framed).unwrap();
        assert_eq!(header, Header::SingleObject { fingerprint: fp });
        assert_eq!(datum, b"datum");
    }

    #[test]
    fn confluent_header_round_trips() {
        let mut framed = confluent_header(0x0A0B_0C0D).to_vec();
        assert_eq!(framed, [0, 0x0A, 0x0B, 0x0C, 0x0D]);
        framed.push(42);
        let (header, datum) = split(&framed).unwrap();
        assert_eq!(
            header,
            Header::Confluent {
                schema_id: 0x0A0B_0C0D
            }
        );
        assert_eq!(datum, [42]);
    }

    #[test]
    fn header_only_is_an_empty_datum() {
        let header = single_object_header(7);
        let (_, datum) = split(&header).unwrap();
        assert!(datum.is_empty());
    }

    #[test]
    fn short_headers_are_truncated() {
        let so = single_object_header(7);
        for len in 1..so.len() {
            assert!(
                matches!(split(&so[..len]), Err(CodecError::Truncated)),
                "{len}"
            );
        }
        let cf = confluent_header(7);
        for len in 1..cf.len() {
            assert!(
                matches!(split(&cf[..len]), Err(CodecError::Truncated)),
                "{len}"
            );
        }
    }

    #[test]
    fn unknown_magic_is_rejected() {
        assert!(matches!(split(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            split(&[0xC3, 0x02, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(CodecError::BadMagic {
                found: [0xC3, 0x02]
            })
        ));
        assert!(matches!(
            split(b"{\"json\":1}"),
            Err(CodecError::BadMagic {
                found: [b'{', b'"']
            })
        ));
        assert!(matches!(
            split(&[0x7F]),
            Err(CodecError::BadMagic { found: [0x7F, 0] })
        ));
    }
}

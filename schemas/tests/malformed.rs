//! Malformed input: every bad record is a typed, permanent error (except a failing registry
//! lookup, which is transient), and nothing panics or allocates without bound.

mod common;

use std::sync::Arc;

use apache_avro::error::Details;
use apache_avro::Schema;
use notify_schemas::framing::{confluent_header, single_object_header};
use notify_schemas::{
    init_decode_limits, samples, Codec, CodecError, Delivery, DeliveryStatus, InMemorySchemaLookup,
    LookupError, NotificationRequest, Record, SchemaLookup, MAX_ALLOCATION_BYTES,
};

fn status_codec() -> Codec<DeliveryStatus> {
    Codec::new().unwrap()
}

fn assert_permanent<T>(result: Result<T, CodecError>) -> CodecError {
    let Err(err) = result else {
        panic!("malformed input must not decode");
    };
    assert!(err.is_permanent(), "{err} should be permanent");
    let text = err.to_string();
    assert!(!text.ends_with('.'), "{text}");
    err
}

#[test]
fn empty_input() {
    let err = assert_permanent(status_codec().decode(&[]));
    assert!(matches!(err, CodecError::Empty));
    assert_eq!(err.kind(), "empty");
}

fn assert_every_prefix_is_truncated<T: Record>(codec: &Codec<T>, bytes: &[u8]) {
    for len in 1..bytes.len() {
        let err = assert_permanent(codec.decode(&bytes[..len]));
        assert!(
            matches!(err, CodecError::Truncated),
            "{}: prefix of {len}/{} bytes gave {err:?}",
            T::FULL_NAME,
            bytes.len()
        );
    }
}

#[test]
fn truncated_at_every_prefix_length() {
    let requests = Codec::<NotificationRequest>::new().unwrap();
    for r in common::requests() {
        assert_every_prefix_is_truncated(&requests, &requests.encode(&r).unwrap());
    }
    let deliveries = Codec::<Delivery>::new().unwrap();
    for d in common::deliveries() {
        assert_every_prefix_is_truncated(&deliveries, &deliveries.encode(&d).unwrap());
    }
    let statuses = status_codec();
    for s in common::statuses() {
        assert_every_prefix_is_truncated(&statuses, &statuses.encode(&s).unwrap());
        let confluent = statuses.encode_confluent(&s, 3).unwrap();
        for len in 1..5 {
            assert!(matches!(
                statuses.decode(&confluent[..len]),
                Err(CodecError::Truncated)
            ));
        }
    }
}

#[test]
fn wrong_magic() {
    let codec = status_codec();
    let mut bytes = codec.encode(&samples::status_sent()).unwrap();
    bytes[1] = 0x02;
    let err = assert_permanent(codec.decode(&bytes));
    assert!(
        matches!(
            err,
            CodecError::BadMagic {
                found: [0xC3, 0x02]
            }
        ),
        "{err:?}"
    );
    for input in [&b"{\"tenant\":\"acme\"}"[..], b"\x01", b"\xff\xff\xff"] {
        let err = assert_permanent(codec.decode(input));
        assert!(matches!(err, CodecError::BadMagic { .. }), "{err:?}");
    }
}

#[test]
fn unknown_fingerprint() {
    let codec = status_codec();
    let mut bytes = codec.encode(&samples::status_sent()).unwrap();
    bytes[2] ^= 0xFF;
    let err = assert_permanent(codec.decode(&bytes));
    let expected = DeliveryStatus::fingerprint() ^ 0xFF;
    assert!(
        matches!(err, CodecError::UnknownFingerprint(fp) if fp == expected),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&format!("{expected:#018x}")),
        "{err}"
    );
}

#[test]
fn record_of_another_type_is_refused_by_fingerprint() {
    let deliveries = Codec::<Delivery>::new().unwrap();
    let status_bytes = status_codec().encode(&samples::status_sent()).unwrap();
    let err = assert_permanent(deliveries.decode(&status_bytes));
    assert!(
        matches!(err, CodecError::UnknownFingerprint(fp) if fp == DeliveryStatus::fingerprint()),
        "{err:?}"
    );
}

#[test]
fn confluent_without_a_lookup() {
    let codec = status_codec();
    let bytes = codec.encode_confluent(&samples::status_sent(), 1).unwrap();
    let err = assert_permanent(codec.decode(&bytes));
    assert!(matches!(err, CodecError::NoSchemaRegistry), "{err:?}");
}

#[test]
fn confluent_unknown_schema_id() {
    let lookup = InMemorySchemaLookup::new().with(1, DeliveryStatus::schema().clone());
    let codec = status_codec().with_schema_lookup(Arc::new(lookup));
    let bytes = codec.encode_confluent(&samples::status_sent(), 2).unwrap();
    let err = assert_permanent(codec.decode(&bytes));
    assert!(matches!(err, CodecError::UnknownSchemaId(2)), "{err:?}");
}

#[test]
fn confluent_id_registered_after_a_miss_is_found() {
    let lookup = Arc::new(InMemorySchemaLookup::new());
    let codec = status_codec().with_schema_lookup(lookup.clone());
    let bytes = codec.encode_confluent(&samples::status_sent(), 5).unwrap();
    assert!(matches!(
        codec.decode(&bytes),
        Err(CodecError::UnknownSchemaId(5))
    ));
    lookup.insert(5, DeliveryStatus::schema().clone());
    assert_eq!(codec.decode(&bytes).unwrap(), samples::status_sent());
}

#[derive(Debug)]
struct Unreachable;

impl SchemaLookup for Unreachable {
    fn writer_schema(&self, _schema_id: u32) -> Result<Option<Schema>, LookupError> {
        Err(LookupError("connection refused".into()))
    }
}

#[test]
fn failing_lookup_is_transient() {
    let codec = status_codec().with_schema_lookup(Arc::new(Unreachable));
    let bytes = codec.encode_confluent(&samples::status_sent(), 1).unwrap();
    let err = codec.decode(&bytes).unwrap_err();
    assert!(matches!(err, CodecError::SchemaLookup(_)), "{err:?}");
    assert!(!err.is_permanent());
    assert_eq!(
        err.to_string(),
        "schema registry lookup failed: connection refused"
    );
}

#[test]
fn confluent_id_of_an_incompatible_schema() {
    let other = Schema::parse_str(
        r#"{"type": "record", "name": "io.notify.v1.DeliveryStatus",
            "fields": [{"name": "tenant", "type": "int"}]}"#,
    )
    .unwrap();
    let lookup = InMemorySchemaLookup::new().with(9, other);
    let codec = status_codec().with_schema_lookup(Arc::new(lookup));
    let mut bytes = confluent_header(9).to_vec();
    bytes.push(2);
    for _ in 0..2 {
        // the second time answers from the codec's cache
        let err = assert_permanent(codec.decode(&bytes));
        assert!(
            matches!(err, CodecError::IncompatibleSchema { .. }),
            "{err:?}"
        );
    }
}

#[test]
fn trailing_bytes() {
    let codec = status_codec();
    let mut bytes = codec.encode(&samples::minimal_status()).unwrap();
    bytes.extend_from_slice(&[0, 0, 0]);
    let err = assert_permanent(codec.decode(&bytes));
    assert!(matches!(err, CodecError::TrailingBytes(3)), "{err:?}");
}

/// Single-object record of a `DeliveryStatus` whose datum is `datum`.
fn status_record(datum: &[u8]) -> Vec<u8> {
    let mut bytes = single_object_header(DeliveryStatus::fingerprint()).to_vec();
    bytes.extend_from_slice(datum);
    bytes
}

fn zigzag(n: i64) -> Vec<u8> {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::new();
    loop {
        if z < 0x80 {
            out.push(z as u8);
            return out;
        }
        out.push((z as u8 & 0x7F) | 0x80);
        z >>= 7;
    }
}

#[test]
fn huge_length_prefix_is_refused_before_allocating() {
    let codec = status_codec();
    assert_eq!(init_decode_limits(), MAX_ALLOCATION_BYTES);
    for claimed in [MAX_ALLOCATION_BYTES as i64 + 1, 1 << 40, i64::MAX] {
        // `tenant` claims `claimed` bytes, and 5 follow
        let mut datum = zigzag(claimed);
        datum.extend_from_slice(b"acme!");
        let err = assert_permanent(codec.decode(&status_record(&datum)));
        match err {
            CodecError::Decode(e) => assert!(
                matches!(e.details(), Details::MemoryAllocation { .. }),
                "{claimed}: {e}"
            ),
            other => panic!("{claimed}: {other:?}"),
        }
    }
    // negative lengths are malformed too
    let err = assert_permanent(codec.decode(&status_record(&zigzag(-5))));
    assert!(matches!(err, CodecError::Decode(_)), "{err:?}");
    // under the limit the decoder may allocate, then finds the input too short
    let err = assert_permanent(codec.decode(&status_record(&zigzag(1 << 20))));
    assert!(matches!(err, CodecError::Truncated), "{err:?}");
}

#[test]
fn huge_collection_count_is_bounded_by_the_input() {
    // `channels` of a request claims 2^40 items; each needs a byte, so decoding stops at the end
    // of the input instead of reserving memory for the claimed count.
    let codec = Codec::<NotificationRequest>::new().unwrap();
    let mut datum = Vec::new();
    datum.extend(zigzag(1)); // tenant
    datum.push(b't');
    datum.extend(zigzag(36)); // event_id
    datum.extend_from_slice(samples::EVENT_ID.to_string().as_bytes());
    datum.push(0); // idempotency_key: null
    datum.extend(zigzag(1)); // user_id
    datum.push(b'u');
    datum.extend(zigzag(1)); // category
    datum.push(b'c');
    datum.push(0); // priority
    datum.extend(zigzag(1 << 40)); // channels count
    datum.extend([0, 2, 4]);
    let mut bytes = single_object_header(NotificationRequest::fingerprint()).to_vec();
    bytes.extend(datum);
    let err = assert_permanent(codec.decode(&bytes));
    assert!(matches!(err, CodecError::Truncated), "{err:?}");
}

#[test]
fn bad_values_inside_a_valid_frame() {
    let codec = status_codec();
    let good = codec.encode(&samples::minimal_status()).unwrap();
    // datum of minimal_status: tenant "t", event_id (36 chars), then optionals...
    let event_at = 10 + 2 + 1; // header, tenant length + "t", event_id length
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("non-uuid event id", {
            let mut b = good.clone();
            b[event_at] = b'x';
            b
        }),
        ("invalid utf-8 in tenant", {
            let mut b = good.clone();
            b[11] = 0xFF;
            b
        }),
        ("union index out of range", {
            let mut b = good.clone();
            b[event_at + 36] = zigzag(7)[0];
            b
        }),
        ("negative union index", {
            let mut b = good.clone();
            b[event_at + 36] = zigzag(-1)[0];
            b
        }),
    ];
    for (what, bytes) in cases {
        let err = assert_permanent(codec.decode(&bytes));
        assert!(matches!(err, CodecError::Decode(_)), "{what}: {err:?}");
    }
    // enum symbol index out of range: `status` follows the event id and five nulls
    let mut bytes = good.clone();
    let status_at = event_at + 36 + 5;
    assert_eq!(bytes[status_at], 0, "layout of minimal_status changed");
    bytes[status_at] = zigzag(10)[0];
    let err = assert_permanent(codec.decode(&bytes));
    assert!(matches!(err, CodecError::Decode(_)), "{err:?}");
}

// the property tests, in their own file
#[path = "malformed/fuzz.rs"]
mod fuzz;

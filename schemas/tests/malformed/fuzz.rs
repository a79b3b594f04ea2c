//! Random and mutated records against every codec: decoding never panics, and whatever
//! decodes encodes again to the same value.

use super::*;
use common::{DeliveryNext, DeliveryStatusNext, NotificationRequestNext};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::sync::LazyLock;

struct Codecs {
    requests: Codec<NotificationRequest>,
    deliveries: Codec<Delivery>,
    statuses: Codec<DeliveryStatus>,
    valid: Vec<Vec<u8>>,
    headers: Vec<Vec<u8>>,
}

static CODECS: LazyLock<Codecs> = LazyLock::new(|| {
    let lookup = Arc::new(
        InMemorySchemaLookup::new()
            .with(1, NotificationRequest::schema().clone())
            .with(2, NotificationRequestNext::schema().clone())
            .with(3, Delivery::schema().clone())
            .with(4, DeliveryNext::schema().clone())
            .with(5, DeliveryStatus::schema().clone())
            .with(6, DeliveryStatusNext::schema().clone()),
    );
    let requests = Codec::new()
        .unwrap()
        .with_writer_schema(NotificationRequestNext::schema().clone())
        .unwrap()
        .with_schema_lookup(lookup.clone());
    let deliveries = Codec::new()
        .unwrap()
        .with_writer_schema(DeliveryNext::schema().clone())
        .unwrap()
        .with_schema_lookup(lookup.clone());
    let statuses = Codec::new()
        .unwrap()
        .with_writer_schema(DeliveryStatusNext::schema().clone())
        .unwrap()
        .with_schema_lookup(lookup);
    let mut valid = Vec::new();
    for r in common::requests() {
        valid.push(requests.encode(&r).unwrap());
        valid.push(requests.encode_confluent(&r, 1).unwrap());
    }
    for d in common::deliveries() {
        valid.push(deliveries.encode(&d).unwrap());
    }
    for s in common::statuses() {
        valid.push(statuses.encode(&s).unwrap());
        valid.push(statuses.encode_confluent(&s, 5).unwrap());
    }
    let mut headers: Vec<Vec<u8>> = [
        NotificationRequest::fingerprint(),
        NotificationRequestNext::fingerprint(),
        Delivery::fingerprint(),
        DeliveryNext::fingerprint(),
        DeliveryStatus::fingerprint(),
        DeliveryStatusNext::fingerprint(),
    ]
    .into_iter()
    .map(|fp| single_object_header(fp).to_vec())
    .collect();
    headers.extend((1..=7).map(|id| confluent_header(id).to_vec()));
    headers.push(Vec::new());
    Codecs {
        requests,
        deliveries,
        statuses,
        valid,
        headers,
    }
});

/// Tries random and mutated records against one codec: decode must return, and anything it
/// accepts must encode again and decode to the same value.
fn check_no_panic<T: Record + PartialEq + std::fmt::Debug>(codec: &Codec<T>, bytes: &[u8]) {
    if let Ok(value) = codec.decode(bytes) {
        let again = codec.encode(&value).expect("a decoded value must encode");
        assert_eq!(
            codec
                .decode(&again)
                .expect("a re-encoded value must decode"),
            value
        );
    }
}

fn check_all(bytes: &[u8]) {
    let c = &*CODECS;
    check_no_panic(&c.requests, bytes);
    check_no_panic(&c.deliveries, bytes);
    check_no_panic(&c.statuses, bytes);
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len().max(1);
    match *m {
        Mutation::Set(i, b) if !bytes.is_empty() => bytes[i % n] = b,
        Mutation::Flip(i, bit) if !bytes.is_empty() => bytes[i % n] ^= 1 << bit,
        Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
        Mutation::Remove(i) if !bytes.is_empty() => {
            bytes.remove(i % n);
        }
        Mutation::Truncate(i) => bytes.truncate(i % (bytes.len() + 1)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_all(&bytes);
    }

    #[test]
    fn arbitrary_datums_behind_real_headers_never_panic(
        header in 0usize..14,
        datum in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = CODECS.headers[header % CODECS.headers.len()].clone();
        bytes.extend(datum);
        check_all(&bytes);
    }

    #[test]
    fn mutated_valid_records_never_panic(
        which in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = CODECS.valid[which % CODECS.valid.len()].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check_all(&bytes);
    }
}

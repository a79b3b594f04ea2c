//! Schema evolution: the "next" version of each schema (one added optional field, in
//! `tests/fixtures/next/`) and the current one read each other, by the compatibility checker and
//! through the codec in both directions and both framings.

mod common;

use std::sync::Arc;

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;
use common::{DeliveryNext, DeliveryStatusNext, NextVersion, NotificationRequestNext};
use notify_schemas::{Codec, CodecError, DeliveryStatus, InMemorySchemaLookup, Record};

fn field_names(schema: &Schema) -> Vec<String> {
    match schema {
        Schema::Record(r) => r.fields.iter().map(|f| f.name.clone()).collect(),
        other => panic!("not a record: {other:?}"),
    }
}

fn assert_next_is_one_optional_field_more<N: NextVersion>() {
    let current = N::Current::schema();
    let next = N::schema();
    let mut expected = field_names(current);
    expected.push("campaign_id".into());
    assert_eq!(field_names(next), expected, "{}", N::FULL_NAME);
    assert_ne!(N::Current::fingerprint(), N::fingerprint());

    assert_eq!(
        SchemaCompatibility::can_read(current, next).unwrap(),
        Compatibility::Full,
        "{}: next cannot read current",
        N::FULL_NAME
    );
    assert_eq!(
        SchemaCompatibility::can_read(next, current).unwrap(),
        Compatibility::Full,
        "{}: current cannot read next",
        N::FULL_NAME
    );
}

#[test]
fn next_schemas_are_compatible_both_ways() {
    assert_next_is_one_optional_field_more::<NotificationRequestNext>();
    assert_next_is_one_optional_field_more::<DeliveryNext>();
    assert_next_is_one_optional_field_more::<DeliveryStatusNext>();
}

#[test]
fn compatibility_check_rejects_a_required_field_without_default() {
    // The check above must be able to fail: adding a required field breaks old data.
    let json = DeliveryStatus::schema_json().replacen(
        r#"{"name": "tenant", "type": "string"},"#,
        r#"{"name": "tenant", "type": "string"}, {"name": "region", "type": "string"},"#,
        1,
    );
    let breaking = Schema::parse_str(&json).unwrap();
    assert!(SchemaCompatibility::can_read(DeliveryStatus::schema(), &breaking).is_err());

    let err = Codec::<DeliveryStatusNext>::new()
        .unwrap()
        .with_writer_schema(DeliveryStatus::schema().clone());
    assert!(err.is_ok(), "adding an optional field is compatible");
    let err = Codec::<DeliveryStatus>::new()
        .unwrap()
        .with_writer_schema(Schema::parse_str(r#"{"type":"record","name":"io.notify.v1.DeliveryStatus","fields":[{"name":"tenant","type":"long"}]}"#).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, CodecError::IncompatibleSchema { .. }),
        "{err}"
    );
    assert!(err.is_permanent());
}

fn evolve_both_ways<N: NextVersion>(samples: Vec<N::Current>) {
    let old = Codec::<N::Current>::new().unwrap();
    let new = Codec::<N>::new().unwrap();
    let old_reading_new = Codec::<N::Current>::new()
        .unwrap()
        .with_writer_schema(N::schema().clone())
        .unwrap();
    let new_reading_old = Codec::<N>::new()
        .unwrap()
        .with_writer_schema(N::Current::schema().clone())
        .unwrap();

    for sample in samples {
        // new data, old reader: the added field is dropped
        let next = N::from_current(sample.clone(), Some("spring-sale".into()));
        let new_bytes = new.encode(&next).unwrap();
        assert_eq!(new.decode(&new_bytes).unwrap(), next);
        assert!(
            matches!(old.decode(&new_bytes), Err(CodecError::UnknownFingerprint(fp)) if fp == N::fingerprint()),
            "an unregistered writer schema must be refused"
        );
        assert_eq!(old_reading_new.decode(&new_bytes).unwrap(), sample);

        // old data, new reader: the added field takes its default
        let old_bytes = old.encode(&sample).unwrap();
        let (read, campaign_id) = new_reading_old.decode(&old_bytes).unwrap().into_current();
        assert_eq!(read, sample);
        assert_eq!(campaign_id, None);
        // registering another writer does not change how current records decode
        assert_eq!(old_reading_new.decode(&old_bytes).unwrap(), sample);
    }
}

#[test]
fn requests_evolve_both_ways() {
    evolve_both_ways::<NotificationRequestNext>(common::requests());
}

#[test]
fn deliveries_evolve_both_ways() {
    evolve_both_ways::<DeliveryNext>(common::deliveries());
}

#[test]
fn statuses_evolve_both_ways() {
    evolve_both_ways::<DeliveryStatusNext>(common::statuses());
}

#[test]
fn confluent_framed_records_resolve_through_the_lookup() {
    const CURRENT_ID: u32 = 7;
    const NEXT_ID: u32 = 8;
    let lookup = InMemorySchemaLookup::new()
        .with(CURRENT_ID, DeliveryStatus::schema().clone())
        .with(NEXT_ID, DeliveryStatusNext::schema().clone());
    let codec = Codec::<DeliveryStatus>::new()
        .unwrap()
        .with_schema_lookup(Arc::new(lookup));
    let new = Codec::<DeliveryStatusNext>::new().unwrap();

    for sample in common::statuses() {
        let current = codec.encode_confluent(&sample, CURRENT_ID).unwrap();
        assert_eq!(&current[..5], [0, 0, 0, 0, 7]);
        assert_eq!(codec.decode(&current).unwrap(), sample);
        // the cached entry answers the second time
        assert_eq!(codec.decode(&current).unwrap(), sample);

        let next = DeliveryStatusNext::from_current(sample.clone(), Some("c".into()));
        let newer = new.encode_confluent(&next, NEXT_ID).unwrap();
        assert_eq!(codec.decode(&newer).unwrap(), sample);
    }
}

//! Provider receipts on `notify.status` are a compatible change: a consumer still built with the
//! first version of the status schema (`tests/fixtures/v1/`, no `receipt` field) reads them, as
//! the status the receipt stands for, and the current schema reads what the first one wrote.

use std::sync::LazyLock;

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;
use notify_schemas::{
    samples, Channel, Codec, DeliveryStatus, Receipt, Record, Stage, Status, TimestampMillis,
};
use serde::{Deserialize, Serialize};

/// `DeliveryStatus` as a consumer built before receipts knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DeliveryStatusV1 {
    tenant: String,
    event_id: String,
    delivery_id: Option<String>,
    user_id: Option<String>,
    category: Option<String>,
    channel: Option<Channel>,
    recipient: Option<String>,
    status: Status,
    stage: Stage,
    reason: Option<String>,
    provider: Option<String>,
    provider_message_id: Option<String>,
    attempt: i32,
    occurred_at: TimestampMillis,
}

impl Record for DeliveryStatusV1 {
    const FULL_NAME: &'static str = "io.notify.v1.DeliveryStatus";

    fn schema_json() -> &'static str {
        include_str!("fixtures/v1/delivery_status.avsc")
    }

    fn schema() -> &'static Schema {
        static SCHEMA: LazyLock<Schema> =
            LazyLock::new(|| Schema::parse_str(DeliveryStatusV1::schema_json()).unwrap());
        &SCHEMA
    }

    fn fingerprint() -> u64 {
        static FP: LazyLock<u64> =
            LazyLock::new(|| notify_schemas::fingerprint(DeliveryStatusV1::schema()));
        *FP
    }
}

fn receipt(receipt: Receipt) -> DeliveryStatus {
    DeliveryStatus {
        status: receipt.status(),
        stage: Stage::Tracker,
        reason: None,
        receipt: Some(receipt),
        ..samples::status_sent()
    }
}

#[test]
fn the_first_version_and_the_current_one_read_each_other() {
    let v1 = DeliveryStatusV1::schema();
    let current = DeliveryStatus::schema();
    assert_eq!(
        SchemaCompatibility::can_read(current, v1).unwrap(),
        Compatibility::Full
    );
    assert_eq!(
        SchemaCompatibility::can_read(v1, current).unwrap(),
        Compatibility::Full
    );
}

#[test]
fn a_first_version_reader_sees_a_receipt_as_the_status_it_stands_for() {
    let writer = Codec::<DeliveryStatus>::new().unwrap();
    let old_reader = Codec::<DeliveryStatusV1>::new()
        .unwrap()
        .with_writer_schema(DeliveryStatus::schema().clone())
        .unwrap();
    for kind in Receipt::ALL {
        let written = receipt(kind);
        let read = old_reader
            .decode(&writer.encode(&written).unwrap())
            .unwrap();
        assert_eq!(read.status, kind.status(), "{kind:?}");
        assert_eq!(read.stage, Stage::Tracker);
        assert_eq!(read.event_id, written.event_id.to_string());
        assert_eq!(
            read.delivery_id,
            written.delivery_id.map(|id| id.to_string())
        );
    }
    assert_eq!(Receipt::Delivered.status(), Status::Sent);
    assert_eq!(Receipt::Bounced.status(), Status::Failed);
}

#[test]
fn the_current_reader_reads_first_version_statuses_without_a_receipt_or_template() {
    let old_writer = Codec::<DeliveryStatusV1>::new().unwrap();
    let reader = Codec::<DeliveryStatus>::new()
        .unwrap()
        .with_writer_schema(DeliveryStatusV1::schema().clone())
        .unwrap();
    let sample = samples::status_sent();
    let old = DeliveryStatusV1 {
        tenant: sample.tenant.clone(),
        event_id: sample.event_id.to_string(),
        delivery_id: sample.delivery_id.map(|id| id.to_string()),
        user_id: sample.user_id.clone(),
        category: sample.category.clone(),
        channel: sample.channel,
        recipient: sample.recipient.clone(),
        status: sample.status,
        stage: sample.stage,
        reason: sample.reason.clone(),
        provider: sample.provider.clone(),
        provider_message_id: sample.provider_message_id.clone(),
        attempt: sample.attempt,
        occurred_at: sample.occurred_at,
    };
    let read = reader.decode(&old_writer.encode(&old).unwrap()).unwrap();
    let expected = DeliveryStatus {
        template_id: None,
        ..sample
    };
    assert_eq!(read, expected);
    assert_eq!(read.receipt, None);
}

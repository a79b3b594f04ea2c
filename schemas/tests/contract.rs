//! The Rust types and the `.avsc` files agree, and the files follow the contract's rules.

mod common;

use std::collections::{BTreeSet, HashMap};

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::types::Value;
use apache_avro::Schema;
use notify_schemas::{
    init_decode_limits, Channel, Codec, Delivery, DeliveryStatus, NotificationRequest, Priority,
    Record, Stage, Status, NAMESPACE,
};
use serde::Serialize;

/// Compares the shape of a serialized Rust value with a schema and records every schema path
/// it visits, so a test can also check that the samples cover the whole schema.
struct ShapeCheck<'a> {
    names: &'a HashMap<Name, &'a Schema>,
    visited: BTreeSet<String>,
    errors: Vec<String>,
}

impl ShapeCheck<'_> {
    fn check(&mut self, path: &str, value: &Value, schema: &Schema) {
        let schema = match schema {
            Schema::Ref { name } => match self.names.get(name) {
                Some(schema) => *schema,
                None => return self.errors.push(format!("{path}: unresolved ref {name:?}")),
            },
            other => other,
        };
        self.visited.insert(path.to_string());
        match (schema, value) {
            (Schema::Record(record), Value::Record(fields)) => {
                let schema_names: Vec<&str> =
                    record.fields.iter().map(|f| f.name.as_str()).collect();
                let rust_names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                if schema_names != rust_names {
                    self.errors.push(format!(
                        "{path}: schema fields {schema_names:?} but rust fields {rust_names:?}"
                    ));
                    return;
                }
                for (field, (name, value)) in record.fields.iter().zip(fields) {
                    self.check(&format!("{path}.{name}"), value, &field.schema);
                }
            }
            (Schema::Union(union), _) if is_option(union.variants()) => match value {
                Value::Union(0, inner) if **inner == Value::Null => {}
                Value::Union(1, inner) => {
                    self.check(&format!("{path}?"), inner, &union.variants()[1])
                }
                other => self
                    .errors
                    .push(format!("{path}: option expected, got {other:?}")),
            },
            // apache-avro's `to_value` writes an enum's newtype variant as {type, value}
            (Schema::Union(union), Value::Record(fields)) => match fields.as_slice() {
                [(t, Value::Enum(index, _)), (v, Value::Union(union_index, inner))]
                    if t == "type" && v == "value" && index == union_index =>
                {
                    match union.variants().get(*index as usize) {
                        Some(variant) => self.check(&format!("{path}|{index}"), inner, variant),
                        None => self.errors.push(format!("{path}: no union branch {index}")),
                    }
                }
                other => self
                    .errors
                    .push(format!("{path}: union expected, got {other:?}")),
            },
            (Schema::Enum(e), Value::String(symbol)) => {
                if !e.symbols.contains(symbol) {
                    self.errors
                        .push(format!("{path}: {symbol} is not a symbol of {:?}", e.name));
                }
            }
            (Schema::Array(array), Value::Array(items)) => {
                for item in items {
                    self.check(&format!("{path}[]"), item, &array.items);
                }
            }
            (Schema::Map(map), Value::Map(entries)) => {
                for value in entries.values() {
                    self.check(&format!("{path}{{}}"), value, &map.types);
                }
            }
            (Schema::String | Schema::Uuid(_), Value::String(_))
            | (Schema::Int, Value::Int(_))
            | (Schema::Long | Schema::TimestampMillis, Value::Long(_)) => {}
            (schema, value) => self
                .errors
                .push(format!("{path}: {value:?} does not fit {schema:?}")),
        }
    }
}

fn is_option(variants: &[Schema]) -> bool {
    variants.len() == 2 && variants[0] == Schema::Null
}

/// Every path `ShapeCheck` can visit in a schema.
fn schema_paths(path: &str, schema: &Schema, out: &mut BTreeSet<String>) {
    out.insert(path.to_string());
    match schema {
        Schema::Record(record) => {
            for field in &record.fields {
                schema_paths(&format!("{path}.{}", field.name), &field.schema, out);
            }
        }
        Schema::Union(union) if is_option(union.variants()) => {
            schema_paths(&format!("{path}?"), &union.variants()[1], out)
        }
        Schema::Union(union) => {
            for (i, variant) in union.variants().iter().enumerate() {
                schema_paths(&format!("{path}|{i}"), variant, out);
            }
        }
        Schema::Array(array) => schema_paths(&format!("{path}[]"), &array.items, out),
        Schema::Map(map) => schema_paths(&format!("{path}{{}}"), &map.types, out),
        _ => {}
    }
}

/// The samples' shapes match `T`'s schema and together visit every part of it.
fn assert_shapes<T: Record>(samples: &[T]) {
    let resolved = ResolvedSchema::new(T::schema()).unwrap();
    let mut check = ShapeCheck {
        names: resolved.get_names(),
        visited: BTreeSet::new(),
        errors: Vec::new(),
    };
    for sample in samples {
        let value = apache_avro::to_value(sample).unwrap();
        check.check("", &value, T::schema());
    }
    assert!(
        check.errors.is_empty(),
        "{}: {:#?}",
        T::FULL_NAME,
        check.errors
    );
    let mut all = BTreeSet::new();
    schema_paths("", T::schema(), &mut all);
    let unvisited: Vec<_> = all.difference(&check.visited).collect();
    assert!(
        unvisited.is_empty(),
        "{}: samples never fill {unvisited:?}",
        T::FULL_NAME
    );
}

#[test]
fn rust_types_match_the_schemas_field_for_field() {
    assert_shapes(&common::requests());
    assert_shapes(&common::deliveries());
    assert_shapes(&common::statuses());
}

/// Each Rust enum serializes, variant by variant, to the schema's symbol at the same index.
fn assert_enum_order<E: Serialize>(record: &Schema, enum_name: &str, variants: &[E]) {
    let resolved = ResolvedSchema::new(record).unwrap();
    let name = Name::new(format!("{NAMESPACE}.{enum_name}")).unwrap();
    let Some(Schema::Enum(schema)) = resolved.get_names().get(&name).copied() else {
        panic!("{enum_name} is not an enum of {record:?}");
    };
    let symbols: Vec<String> = variants
        .iter()
        .map(|v| match apache_avro::to_value(v).unwrap() {
            Value::String(s) => s,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(symbols, schema.symbols, "{enum_name}");
}

#[test]
fn enum_variants_match_symbols_in_order() {
    // A new variant must be added to these lists, or these matches stop compiling.
    let _: fn(Priority) = |p| match p {
        Priority::Critical | Priority::High | Priority::Normal | Priority::Bulk => {}
    };
    let _: fn(Status) = |s| match s {
        Status::Accepted
        | Status::Scheduled
        | Status::Suppressed
        | Status::Sent
        | Status::Retrying
        | Status::Failed
        | Status::Expired
        | Status::DeadLettered
        | Status::Opened
        | Status::Clicked => {}
    };
    let _: fn(Stage) = |s| match s {
        Stage::Ingest | Stage::Router | Stage::Scheduler | Stage::Dispatcher | Stage::Tracker => {}
    };
    let priorities = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Bulk,
    ];
    for record in [NotificationRequest::schema(), Delivery::schema()] {
        assert_enum_order(record, "Priority", &priorities);
        assert_enum_order(record, "Channel", &Channel::ALL);
    }
    assert_enum_order(DeliveryStatus::schema(), "Channel", &Channel::ALL);
    assert_enum_order(DeliveryStatus::schema(), "Status", &Status::ALL);
    assert_enum_order(DeliveryStatus::schema(), "Stage", &Stage::ALL);
}

/// Encodes through the codec, decodes back through both of the codec's paths: the schema-aware
/// deserializer, and the generic `Value` decoder that resolution uses.
fn assert_round_trips<T: Record + PartialEq + std::fmt::Debug>(samples: &[T]) {
    init_decode_limits();
    let codec = Codec::<T>::new().unwrap();
    let reader = GenericDatumReader::builder(T::schema()).build().unwrap();
    for sample in samples {
        let bytes = codec.encode(sample).unwrap();
        assert_eq!(codec.decode(&bytes).unwrap(), *sample);

        let mut datum = &bytes[10..];
        let value = reader.read_value(&mut datum).unwrap();
        assert!(datum.is_empty());
        assert!(value.validate(T::schema()));
        let via_value: T = apache_avro::from_value(&value).unwrap();
        assert_eq!(via_value, *sample);
    }
}

#[test]
fn full_and_minimal_records_round_trip() {
    assert_round_trips(&common::requests());
    assert_round_trips(&common::deliveries());
    assert_round_trips(&common::statuses());
}

#[test]
fn uuid_text_from_other_producers_is_accepted_in_any_case() {
    let codec = Codec::<DeliveryStatus>::new().unwrap();
    let sample = notify_schemas::samples::minimal_status();
    let lower = sample.event_id.to_string();
    let mut bytes = codec.encode(&sample).unwrap();
    let at = bytes
        .windows(lower.len())
        .position(|w| w == lower.as_bytes())
        .unwrap();
    bytes[at..at + lower.len()].copy_from_slice(lower.to_uppercase().as_bytes());
    assert_ne!(bytes, codec.encode(&sample).unwrap());
    assert_eq!(codec.decode(&bytes).unwrap(), sample);
}

#[test]
fn encoding_is_deterministic() {
    let codec = Codec::<NotificationRequest>::new().unwrap();
    let a = codec
        .encode(&notify_schemas::samples::full_request())
        .unwrap();
    let b = codec
        .encode(&notify_schemas::samples::full_request())
        .unwrap();
    assert_eq!(a, b);
}

fn all_fields<'s>(
    path: &str,
    schema: &'s Schema,
    out: &mut Vec<(String, &'s apache_avro::schema::RecordField)>,
) {
    match schema {
        Schema::Record(record) => {
            for field in &record.fields {
                let p = format!("{path}.{}", field.name);
                out.push((p.clone(), field));
                all_fields(&p, &field.schema, out);
            }
        }
        Schema::Union(union) => {
            for variant in union.variants() {
                all_fields(path, variant, out);
            }
        }
        Schema::Array(array) => all_fields(path, &array.items, out),
        Schema::Map(map) => all_fields(path, &map.types, out),
        _ => {}
    }
}

fn is_snake_case(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn assert_rules<T: Record>() {
    let schema = T::schema();
    let Schema::Record(record) = schema else {
        panic!("{} is not a record", T::FULL_NAME);
    };
    assert_eq!(record.name.fullname(None), T::FULL_NAME);
    assert_eq!(record.name.namespace(), Some(NAMESPACE));

    let mut fields = Vec::new();
    all_fields("", schema, &mut fields);
    for (path, field) in fields {
        assert!(is_snake_case(&field.name), "{path} is not snake_case");
        if let Schema::Union(union) = &field.schema {
            if union.variants().contains(&Schema::Null) {
                assert_eq!(
                    union.variants()[0],
                    Schema::Null,
                    "{path}: null must come first"
                );
                assert!(
                    matches!(&field.default, Some(d) if d.is_null()),
                    "{path}: an optional field needs default null"
                );
            }
        }
    }
}

#[test]
fn schemas_follow_the_contract_rules() {
    assert_rules::<NotificationRequest>();
    assert_rules::<Delivery>();
    assert_rules::<DeliveryStatus>();
}

#[test]
fn fingerprints_are_distinct_and_match_the_parsed_schemas() {
    let fps = [
        NotificationRequest::fingerprint(),
        Delivery::fingerprint(),
        DeliveryStatus::fingerprint(),
    ];
    assert_ne!(fps[0], fps[1]);
    assert_ne!(fps[1], fps[2]);
    assert_ne!(fps[0], fps[2]);
    assert_eq!(
        fps[2],
        notify_schemas::fingerprint(&Schema::parse_str(DeliveryStatus::schema_json()).unwrap())
    );
}

#[test]
fn codec_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Codec<NotificationRequest>>();
    assert_send_sync::<Codec<Delivery>>();
    assert_send_sync::<Codec<DeliveryStatus>>();
}

#[test]
fn shape_check_catches_a_missing_and_a_misordered_field() {
    #[derive(Serialize)]
    struct TraceContext {
        tracestate: Option<String>,
        traceparent: String,
    }
    #[derive(Serialize)]
    struct Partial {
        tenant: String,
    }
    let schema = NotificationRequest::schema();
    let resolved = ResolvedSchema::new(schema).unwrap();
    let Schema::Record(record) = schema else {
        unreachable!()
    };
    let trace_schema = &record.fields.last().unwrap().schema;

    let mut check = ShapeCheck {
        names: resolved.get_names(),
        visited: BTreeSet::new(),
        errors: Vec::new(),
    };
    let swapped = TraceContext {
        tracestate: None,
        traceparent: String::new(),
    };
    check.check(
        "",
        &apache_avro::to_value(Some(swapped)).unwrap(),
        trace_schema,
    );
    assert_eq!(check.errors.len(), 1, "{:?}", check.errors);

    let partial = Partial {
        tenant: String::new(),
    };
    check.check("", &apache_avro::to_value(partial).unwrap(), schema);
    assert_eq!(check.errors.len(), 2, "{:?}", check.errors);
}

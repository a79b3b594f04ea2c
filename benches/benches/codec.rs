//! Avro codec cost per record: encode and decode of each record type, in both framings.
//!
//! - `codec`: [`notify_schemas::Codec`], built once; the pipeline's path.
//! - `codec_other_writer`: the same codec reading a record written with the next schema version
//!   (one added optional field), as during a rolling upgrade: decode to `Value`, resolve, decode.
//! - `naive`, for contrast, the A4 anti-pattern: resolve the schema again for every record
//!   (encode: a new `GenericDatumWriter` per call; decode: the deprecated `from_avro_datum`, which
//!   also goes through `apache_avro::Value`, then `from_value`).

use std::hint::black_box;

use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::{from_value, Schema};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use notify_schemas::framing::single_object_header;
use notify_schemas::{samples, Codec, Delivery, NotificationRequest, Record};

fn naive_encode<T: Record>(value: &T) -> Vec<u8> {
    // what `to_avro_datum` does per call, minus the `Value` (which cannot express the
    // union-of-records enums): build and resolve a writer for every record
    let mut out = single_object_header(T::fingerprint()).to_vec();
    let writer = GenericDatumWriter::builder(T::schema()).build().unwrap();
    writer.write_ser(&mut out, value).unwrap();
    out
}

#[allow(deprecated)]
fn naive_decode<T: Record>(bytes: &[u8]) -> T {
    let mut datum = &bytes[10..];
    let value = apache_avro::from_avro_datum(T::schema(), &mut datum, None).unwrap();
    from_value(&value).unwrap()
}

/// The record as written by the next schema version: `campaign_id` appended.
#[allow(deprecated)]
fn next_version_bytes<T: Record>(value: &T) -> (Schema, Vec<u8>) {
    let json = T::schema_json();
    let end = json.rfind(']').unwrap();
    let next_json = format!(
        "{}, {{\"name\": \"campaign_id\", \"type\": [\"null\", \"string\"], \"default\": null}}{}",
        json[..end].trim_end(),
        &json[end..]
    );
    let next = Schema::parse_str(&next_json).unwrap();
    let current = naive_encode(value);
    let value =
        apache_avro::from_avro_datum(T::schema(), &mut &current[10..], Some(&next)).unwrap();
    let Value::Record(mut fields) = value else {
        unreachable!()
    };
    fields.last_mut().unwrap().1 = Value::Union(1, Box::new(Value::String("spring".into())));
    let mut out = single_object_header(notify_schemas::fingerprint(&next)).to_vec();
    out.extend(apache_avro::to_avro_datum(&next, Value::Record(fields)).unwrap());
    (next, out)
}

fn bench_record<T>(c: &mut Criterion, name: &str, value: T)
where
    T: Record + PartialEq + std::fmt::Debug,
{
    let codec = Codec::<T>::new().unwrap();
    let bytes = codec.encode(&value).unwrap();
    assert_eq!(naive_decode::<T>(&bytes), value);
    assert_eq!(naive_encode(&value), bytes);
    let (next, next_bytes) = next_version_bytes(&value);
    let upgrading = Codec::<T>::new().unwrap().with_writer_schema(next).unwrap();
    assert_eq!(upgrading.decode(&next_bytes).unwrap(), value);

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode/codec", |b| {
        b.iter(|| codec.encode(black_box(&value)).unwrap())
    });
    group.bench_function("encode/naive", |b| {
        b.iter(|| naive_encode(black_box(&value)))
    });
    group.bench_function("decode/codec", |b| {
        b.iter(|| codec.decode(black_box(&bytes)).unwrap())
    });
    group.bench_function("decode/codec_other_writer", |b| {
        b.iter(|| upgrading.decode(black_box(&next_bytes)).unwrap())
    });
    group.bench_function("decode/naive", |b| {
        b.iter(|| naive_decode::<T>(black_box(&bytes)))
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench_record::<NotificationRequest>(c, "request", samples::typical_request());
    bench_record::<Delivery>(c, "delivery", samples::full_push_delivery());
}

criterion_group!(benches, codec);
criterion_main!(benches);

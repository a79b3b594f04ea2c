//! Delivery id derivation: [`notify_schemas::delivery_id`], which the router computes once per
//! (channel, recipient) of every request, and the dispatcher relies on for dedup. Its cost is a
//! small allocation for the length-prefixed parts plus one SHA-1 block or a few (UUIDv5), so it
//! grows with the recipient key: an APNs token (64 hex digits), an email address, and a web
//! push endpoint (the longest key, a URL of about 200 bytes).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use notify_schemas::{delivery_id, Channel, Uuid};

const EVENT: Uuid = Uuid::from_u128(0x3f2a_9c41_7d0e_4b8a_9e5f_0c6d_1a2b_3c4d);

fn bench(c: &mut Criterion) {
    let apns_token = "a3f1".repeat(16);
    let endpoint = format!(
        "https://fcm.googleapis.com/fcm/send/{}:APA91b{}",
        "dGVzdC1zdWJzY3JpcHRpb24", // a subscription id of typical length
        "H".repeat(140)
    );
    let cases: [(&str, Channel, &str); 3] = [
        ("apns", Channel::Apns, &apns_token),
        ("email", Channel::Email, "kim.minji@example.com"),
        ("webpush", Channel::WebPush, &endpoint),
    ];

    let mut group = c.benchmark_group("delivery_id");
    group.throughput(Throughput::Elements(1));
    for (name, channel, key) in cases {
        assert_eq!(
            delivery_id("acme", EVENT, channel, key),
            delivery_id("acme", EVENT, channel, key)
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                delivery_id(
                    black_box("acme"),
                    black_box(EVENT),
                    black_box(channel),
                    black_box(key),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

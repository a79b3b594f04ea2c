//! Web push message encryption (RFC 8291), per message, as the dispatcher does it for every
//! delivery: a fresh ephemeral key, ECDH with the subscription's key, HKDF, AES-128-GCM.
//!
//! - `encrypt`: the dispatcher's path, the key agreement on `ring` (assembly P-256);
//! - `encrypt_p256`: the same message with the key made and agreed on the portable `p256`
//!   arithmetic, which the dispatcher used before the load profile showed it as its largest
//!   cost.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use notify_dispatchers::providers::webpush::crypto::{self, UaKeys};
use p256::elliptic_curve::sec1::ToEncodedPoint;

fn keys() -> UaKeys {
    let browser = crypto::generate_secret();
    let public = browser.public_key().to_encoded_point(false);
    UaKeys::from_bytes(public.as_bytes(), &[7u8; 16]).expect("a valid subscription")
}

fn bench(c: &mut Criterion) {
    let ua = keys();
    let payload =
        br#"{"title":"Your order shipped","body":"Order 1234 is on its way","data":{"k":"v"}}"#;
    let mut group = c.benchmark_group("webpush");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encrypt", |b| {
        b.iter(|| crypto::encrypt(black_box(payload), &ua).unwrap())
    });
    group.bench_function("encrypt_p256", |b| {
        b.iter(|| {
            let ephemeral = crypto::generate_secret();
            crypto::encrypt_with(black_box(payload), &ua, &ephemeral, &[1u8; 16]).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

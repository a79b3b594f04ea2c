//! The dispatcher's per-delivery bookkeeping without I/O: the in-flight offsets of
//! [`notify_dispatchers::engine::inflight::Inflight`]. Every record a dispatcher consumes is
//! taken (`take`), started once it holds a send slot (`start`, which hands out its cancellation
//! tokens) and finished once its outcome is durable (`finish`, which computes the offset that may
//! be stored and stores it under the lock). This is the only per-delivery decision of the engine
//! that is public: the retry policy (`engine::retry_policy`: backoff, retry tier, `due_at`,
//! `destination`) and the outcome-to-log-state mapping (`engine::status`) are `pub(crate)`, and
//! the providers' answer classification is private to each provider, so they are not measured.
//!
//! - `in_order`: one record at a time, each finish moves the stored offset;
//! - `window_64_in_order`: 64 records in flight, finished oldest first (each moves the offset);
//! - `window_64_out_of_order`: 64 records in flight, finished in a scrambled order (most finishes
//!   store nothing, as an earlier record is still pending).
//!
//! One iteration is one delivery: take, start and finish of one record.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use notify_dispatchers::engine::inflight::{Inflight, Ticket};

const TOPIC: &str = "notify.deliveries.apns";
const WINDOW: usize = 64;

fn store(_: &(String, i32), offset: i64) -> Result<(), Infallible> {
    black_box(offset);
    Ok(())
}

/// Takes and starts the record at `offset`.
fn begin(inflight: &Inflight, offset: i64) -> Ticket {
    let ticket = inflight.take(TOPIC, 3, offset).expect("assigned");
    let lease = inflight.start(&ticket).expect("current");
    black_box(lease);
    ticket
}

fn assigned() -> Inflight {
    let inflight = Inflight::new();
    inflight.assign([(TOPIC.to_owned(), 3)]);
    inflight
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("inflight");
    group.throughput(Throughput::Elements(1));

    group.bench_function("in_order", |b| {
        let inflight = assigned();
        let mut offset = 0;
        b.iter(|| {
            let ticket = begin(&inflight, offset);
            offset += 1;
            inflight.finish(&ticket, store)
        })
    });

    group.bench_function("window_64_in_order", |b| {
        let inflight = assigned();
        let mut window: VecDeque<Ticket> = (0..WINDOW as i64)
            .map(|offset| begin(&inflight, offset))
            .collect();
        let mut offset = WINDOW as i64;
        b.iter(|| {
            window.push_back(begin(&inflight, offset));
            offset += 1;
            let oldest = window.pop_front().unwrap();
            inflight.finish(&oldest, store)
        });
        assert_eq!(inflight.pending(), WINDOW);
    });

    group.bench_function("window_64_out_of_order", |b| {
        let inflight = assigned();
        let mut window: Vec<Ticket> = (0..WINDOW as i64)
            .map(|offset| begin(&inflight, offset))
            .collect();
        let mut offset = WINDOW as i64;
        b.iter(|| {
            window.push(begin(&inflight, offset));
            // a fixed scramble of the window (37 is coprime with its length)
            let done = window.swap_remove((offset as usize * 37) % window.len());
            offset += 1;
            inflight.finish(&done, store)
        });
        assert_eq!(inflight.pending(), WINDOW);
    });

    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

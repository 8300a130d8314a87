//! Core ring costs: publish (one writer, no reader) and poll per delivered frame.
//!
//! `cargo bench --bench ring`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use orbit_rs::{Cursor, Head, Ring, Slot};

fn publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish");
    group.throughput(Throughput::Elements(1));
    let slots: Vec<Slot<256>> = (0..1024).map(|_| Slot::new()).collect();
    let head = Head::new();
    let ring = Ring::new(&slots, &head).unwrap();
    for len in [8usize, 64, 256] {
        let payload = vec![0xA5u8; len];
        group.bench_with_input(BenchmarkId::from_parameter(len), &payload, |b, p| {
            b.iter(|| ring.publish(1, 0, black_box(p)).unwrap());
        });
    }
    group.finish();
}

fn poll(c: &mut Criterion) {
    let mut group = c.benchmark_group("poll");
    const BATCH: u64 = 512;
    group.throughput(Throughput::Elements(BATCH));
    let slots: Vec<Slot<64>> = (0..1024).map(|_| Slot::new()).collect();
    let head = Head::new();
    let ring = Ring::new(&slots, &head).unwrap();
    let payload = [0x5Au8; 64];
    group.bench_function("64B_batch_512", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                let mut cursor: Cursor = ring.cursor_at_head();
                for _ in 0..BATCH {
                    ring.publish(1, 0, &payload).unwrap();
                }
                let start = std::time::Instant::now();
                let poll = ring.poll(&mut cursor, |f| {
                    black_box(f.payload);
                });
                total += start.elapsed();
                assert_eq!(poll.delivered, BATCH);
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, publish, poll);
criterion_main!(benches);

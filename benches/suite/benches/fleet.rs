//! Single-threaded cost of the fleet API's hot calls next to the core ring's, over one
//! shared-memory segment (64-slot ring of 64-byte frames, the xproc bench's `Ping`), and next
//! to the xproc bench's floor (a bare seqlock slot of 64 bytes written and read the same way):
//! what the fleet layer and the ring add per call, without the cross-core traffic that
//! dominates `xproc`.
//!
//! Each poll's result is consumed as a caller would (`delivered`, the loss), not handed to
//! `black_box` whole: that would force the `Poll` through memory, which the fleet's poll —
//! a hot path and a cold one that both produce it — pays for in a failed store-to-load
//! forward that no real caller pays.
//!
//! `cargo bench --manifest-path benches/suite/Cargo.toml --bench fleet` (~15 s).

#![allow(clippy::disallowed_types)] // `common` and the floor use std atomics directly.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use orbit_rs::{Fleet, OrbitEventBus, OrbitTyped};

struct Ping;
impl OrbitTyped for Ping {
    const KIND: u8 = 70;
    const CAPACITY: usize = 64;
    const PAYLOAD: usize = 64;
}

/// `Ping`'s slot class.
const CLASS: usize = 96;

fn calls(c: &mut Criterion) {
    common::pin(0);
    let fleet = Arc::new(
        Fleet::join_shm_as(&format!("bench-fleet-{}", std::process::id()), 1, 0).expect("join"),
    );
    let ring = fleet.ring::<Ping>().expect("ring");
    let bus = OrbitEventBus::new(Arc::clone(&fleet)).expect("event bus");
    fleet.remove_names().expect("remove names"); // every segment is open: nothing left behind
    let frame = [0xA5u8; 64];
    let mut group = c.benchmark_group("fleet_calls/64B");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1_200));

    {
        let mut writer = ring.exclusive_writer().expect("lease");
        let mut cursor = ring.cursor_at_head();
        three(
            &mut group,
            [
                "fleet/poll_with, nothing new",
                "fleet/publish_frame + poll_with of it",
                "fleet/publish_frame",
            ],
            || {
                black_box(writer.publish_frame(0, 1, &frame).expect("publish"));
            },
            || {
                let poll = ring.poll_with(&mut cursor, |f| {
                    black_box(f.payload);
                });
                poll.delivered + poll.loss.total()
            },
        );
    }
    {
        let core = ring.ring::<CLASS>().expect("core ring");
        let mut writer = core.exclusive_writer().expect("lease");
        let mut cursor = core.cursor_at_head();
        three(
            &mut group,
            [
                "core/poll, nothing new",
                "core/publish + poll of it",
                "core/publish",
            ],
            || {
                black_box(writer.publish(0, 1, &frame).expect("publish"));
            },
            || {
                let poll = core.poll(&mut cursor, |f| {
                    black_box(f.payload);
                });
                poll.delivered + poll.loss.total()
            },
        );
    }
    {
        // The multi-writer paths (a CAS on the head, one on the slot), and the event bus's
        // publish on top of them (encoding included).
        let core = ring.ring::<CLASS>().expect("core ring");
        group.bench_function("fleet/publish_frame, multi-writer", |b| {
            b.iter(|| black_box(ring.publish_frame(0, 1, &frame).expect("publish")))
        });
        group.bench_function("core/publish, multi-writer", |b| {
            b.iter(|| black_box(core.publish(0, 1, &frame).expect("publish")))
        });
        group.bench_function("events/publish, 32-byte payload", |b| {
            b.iter(|| black_box(bus.publish("bench", &frame[..32]).expect("publish")))
        });
    }
    {
        let floor = Floor::default();
        let (mut sent, mut received) = (0, 0);
        three(
            &mut group,
            [
                "floor/poll, nothing new",
                "floor/publish + poll of it",
                "floor/publish",
            ],
            || {
                floor.publish(sent, &frame);
                sent += 1;
            },
            || {
                let got = floor.poll(received, |payload| {
                    black_box(payload);
                });
                received += got;
                got
            },
        );
    }
    group.finish();
}

/// The xproc bench's floor in one process: one seqlock slot of eight words, each frame's seq
/// naming its counter (odd while written, even once done), read with the same seq check.
#[repr(C, align(64))]
#[derive(Default)]
struct Floor {
    seq: AtomicU64,
    words: [AtomicU64; 8],
}

impl Floor {
    fn publish(&self, counter: u64, frame: &[u8; 64]) {
        self.seq.store(2 * counter + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (word, bytes) in self.words.iter().zip(frame.chunks_exact(8)) {
            let bytes = bytes.try_into().expect("8 bytes");
            word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
        self.seq.store(2 * counter + 2, Ordering::Release);
    }

    /// Hands the frame of `counter` to `visit` if the slot holds it; the frames delivered (0
    /// or 1).
    fn poll(&self, counter: u64, visit: impl FnOnce(&[u64; 8])) -> u64 {
        let want = 2 * counter + 2;
        if self.seq.load(Ordering::Acquire) != want {
            return 0;
        }
        let words = self
            .words
            .each_ref()
            .map(|word| word.load(Ordering::Relaxed));
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != want {
            return 0;
        }
        visit(&words);
        1
    }
}

/// Times `poll` with nothing new, then `publish` and a `poll` that delivers it, then `publish`
/// alone (in that order: the poll's cursor stays caught up). Each poll's result is consumed as
/// a caller would (the count it returns).
fn three(
    group: &mut BenchmarkGroup<'_, WallTime>,
    names: [&str; 3],
    mut publish: impl FnMut(),
    mut poll: impl FnMut() -> u64,
) {
    group.bench_function(names[0], |b| b.iter(|| black_box(poll())));
    group.bench_function(names[1], |b| {
        b.iter(|| {
            publish();
            black_box(poll())
        })
    });
    group.bench_function(names[2], |b| b.iter(&mut publish));
}

criterion_group!(benches, calls);
criterion_main!(benches);

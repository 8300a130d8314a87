//! Writer and reader threads over a `static` ring: the firmware-style setup, on a host.
//!
//! `cargo run --release --example threads`
//!
//! Phase 1: two multi-writer threads publish flat out while the main thread polls. The reader
//! reports loss, and that is expected: a broadcast ring never makes a writer wait for a reader,
//! so when the writers outrun the reader by more than a ring (256 frames here) the oldest
//! frames are overwritten — and the reader is told exactly how many (`lost`), never silently
//! short. `delivered + lost` always equals the frames published.
//!
//! Phase 2: one thread takes the exclusive writer (`Ring::exclusive_writer`): the one-writer
//! path, publishing without atomic read-modify-writes, while `Ring::publish` from anyone else
//! is refused with `PublishError::Leased`. Readers see no difference.
#![allow(clippy::disallowed_types)] // The example's stop flag uses std's AtomicBool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use orbit_rs::{Cursor, Head, NodeId, PublishError, Ring, Slot};

static SLOTS: [Slot<64>; 256] = [Slot::EMPTY; 256];
static HEAD: Head = Head::new();
static STOP: AtomicBool = AtomicBool::new(false);

fn main() {
    let ring = Ring::new(&SLOTS, &HEAD)
        .expect("256 is a power of two")
        .with_kind(1);
    let writers: Vec<_> = (0..2u16)
        .map(|node| {
            let ring = ring.with_node(NodeId(node));
            thread::spawn(move || {
                let (mut published, mut abandoned) = (0u64, 0u64);
                while !STOP.load(Ordering::Relaxed) {
                    let mut payload = [0u8; 64];
                    payload[..8].copy_from_slice(&published.to_le_bytes());
                    match ring.publish(0, published, &payload) {
                        Ok(_) => published += 1,
                        Err(e) if e.is_transient() => abandoned += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                (published, abandoned)
            })
        })
        .collect();

    let mut cursor = Cursor::from_start();
    let (mut delivered, mut lost) = (0u64, 0u64);
    let start = Instant::now();
    let mut next_report = Duration::from_millis(250);
    while start.elapsed() < Duration::from_secs(2) {
        let poll = ring.poll(&mut cursor, |frame| {
            std::hint::black_box(frame.payload);
        });
        delivered += poll.delivered;
        lost += poll.loss.total();
        if start.elapsed() >= next_report {
            println!(
                "t={:>5.2}s head={:>10} delivered={:>10} lost={:>10}",
                start.elapsed().as_secs_f64(),
                ring.head(),
                delivered,
                lost
            );
            next_report += Duration::from_millis(250);
        }
    }
    STOP.store(true, Ordering::Relaxed);
    for (node, writer) in writers.into_iter().enumerate() {
        let (published, abandoned) = writer.join().expect("writer thread");
        println!("writer {node}: published {published}, abandoned {abandoned}");
    }
    let poll = ring.with_stall_polls(0).poll(&mut cursor, |_| {});
    delivered += poll.delivered;
    lost += poll.loss.total();
    println!(
        "reader: delivered {delivered} + lost {lost} = {} (head {})",
        delivered + lost,
        ring.head()
    );
    assert_eq!(
        delivered + lost,
        ring.head(),
        "every frame delivered or counted"
    );

    // Phase 2: the exclusive writer, paced so that a reader sharing the machine keeps up (on
    // a busy machine some loss may remain; it is counted like any other).
    let exclusive = thread::spawn(move || {
        let mut writer = ring
            .exclusive_writer()
            .expect("nobody else holds the lease");
        assert_eq!(
            ring.publish(0, 0, b"refused"),
            Err(PublishError::Leased),
            "multi-writers are refused while the lease is held"
        );
        for n in 0..100_000u64 {
            writer.publish(0, n, &n.to_le_bytes()).expect("publish");
            if n % 16 == 0 {
                thread::sleep(Duration::from_micros(200));
            }
        }
    });
    let (mut delivered, mut lost, mut in_order) = (0u64, 0u64, true);
    let mut expect = None;
    while !exclusive.is_finished() || delivered + lost < 100_000 {
        let poll = ring.poll(&mut cursor, |frame| {
            let n = u64::from_le_bytes(frame.payload.try_into().expect("8 bytes"));
            in_order &= expect.is_none_or(|e| n >= e);
            expect = Some(n + 1);
        });
        delivered += poll.delivered;
        lost += poll.loss.total();
    }
    exclusive.join().expect("exclusive writer thread");
    println!(
        "exclusive writer: reader delivered {delivered} + lost {lost} of 100000, in order: {in_order}"
    );
    assert!(in_order);
}

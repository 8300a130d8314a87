//! `OwnedRing`: an in-process ring that owns its memory, shared by clones across threads with
//! no `'static` buffers; its exclusive writer moves to a thread.
#![allow(clippy::disallowed_types)] // Test scaffolding uses std's atomics directly.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use common::{checksum, encode};
use orbit_rs::{Cursor, Error, NodeId, OwnedRing, Patience, PublishError};

const PAYLOAD: usize = 64;

fn check(payload: &[u8]) -> (u16, u64) {
    let (body, sum) = payload.split_at(payload.len() - 4);
    assert_eq!(
        checksum(body),
        u32::from_le_bytes(sum.try_into().unwrap()),
        "torn frame"
    );
    let writer = u16::from_le_bytes([payload[0], payload[1]]);
    let seq = u64::from_le_bytes(payload[2..10].try_into().unwrap());
    (writer, seq)
}

/// Two writer threads and a reader thread on clones of one ring created inside the test
/// function (no `'static` memory): every frame intact, per-writer order kept, every counter
/// delivered or counted.
#[test]
fn clones_share_one_ring_across_threads() {
    const PER_WRITER: u64 = 20_000;
    let ring = OwnedRing::<PAYLOAD>::new(64).unwrap().with_kind(3);
    let done = AtomicBool::new(false);
    let finished_writers = AtomicUsize::new(0);
    let (delivered, lost) = thread::scope(|s| {
        for w in 0..2u16 {
            let ring = ring.clone().with_node(NodeId(w));
            let finished_writers = &finished_writers;
            s.spawn(move || {
                for seq in 0..PER_WRITER {
                    while let Err(e) = ring.publish(0, seq, &encode(w, seq, PAYLOAD)) {
                        assert!(e.is_transient(), "{e}");
                    }
                }
                finished_writers.fetch_add(1, Ordering::Release);
            });
        }
        let reader = ring.clone();
        let done = &done;
        let handle = s.spawn(move || {
            let mut cursor = Cursor::from_start();
            let mut last = [None::<u64>; 2];
            let (mut delivered, mut lost) = (0u64, 0u64);
            loop {
                let finished = done.load(Ordering::Acquire);
                let before = cursor.next_counter();
                let ring = if finished {
                    reader.ring().with_stall_polls(0)
                } else {
                    reader.ring()
                };
                let poll = ring.poll_with(&mut cursor, Patience::Polls, |f| {
                    if f.id.node() == NodeId(99) {
                        return; // The sentinel.
                    }
                    let (w, seq) = check(f.payload);
                    assert_eq!(f.id.kind(), 3);
                    let prev = &mut last[usize::from(w)];
                    assert!(prev.is_none_or(|p| p < seq), "writer {w} out of order");
                    *prev = Some(seq);
                });
                assert_eq!(poll.accounted(), cursor.next_counter() - before);
                delivered += poll.delivered;
                lost += poll.loss.total();
                if finished && cursor.next_counter() == reader.ring().head() {
                    return (delivered, lost);
                }
                thread::yield_now();
            }
        });
        // When the writers are done, a last frame lets the reader account for a counter a
        // writer abandoned with nothing committed after it; then tell the reader.
        while finished_writers.load(Ordering::Acquire) < 2 {
            thread::yield_now();
        }
        ring.clone()
            .with_node(NodeId(99))
            .publish(0, 0, &encode(99, 0, PAYLOAD))
            .unwrap();
        done.store(true, Ordering::Release);
        handle.join().unwrap()
    });
    assert!(delivered > 0);
    assert_eq!(delivered + lost, ring.ring().head());
}

/// The exclusive writer owns its handle: it moves into a thread, multi-writers are refused
/// while it lives, and publishing is back to them once it is dropped there.
#[test]
fn the_exclusive_writer_moves_to_a_thread() {
    let ring = OwnedRing::<PAYLOAD>::new(16).unwrap();
    let mut writer = ring.exclusive_writer().unwrap();
    assert_eq!(ring.publish(0, 0, b"refused"), Err(PublishError::Leased));
    assert_eq!(ring.ring().lease_holder(), Some(writer.token()));
    thread::spawn(move || {
        for seq in 0..10u64 {
            writer.publish(0, seq, &encode(9, seq, PAYLOAD)).unwrap();
        }
    })
    .join()
    .unwrap();
    ring.publish(0, 10, &encode(1, 10, PAYLOAD)).unwrap();
    let mut cursor = Cursor::from_start();
    let mut seqs = Vec::new();
    let poll = ring.poll(&mut cursor, |f| seqs.push(check(f.payload).1));
    assert_eq!(poll.loss.total(), 0);
    assert_eq!(seqs, (0..=10).collect::<Vec<_>>());
}

/// A ring that cannot be allocated is an error, before any memory is touched.
#[test]
fn a_ring_too_big_to_allocate_is_an_error() {
    assert!(matches!(OwnedRing::<PAYLOAD>::new(3), Err(Error::Spec(_))));
    if std::fs::read_to_string("/proc/sys/vm/overcommit_memory").is_ok_and(|m| m.trim() == "1") {
        eprintln!("skipped the allocation check: vm.overcommit_memory=1 grants any reservation");
        return;
    }
    match OwnedRing::<4096>::new(1 << 31) {
        Err(Error::OutOfMemory { capacity, bytes }) => {
            assert_eq!(capacity, 1 << 31);
            assert!(bytes >= (1usize << 31) * 4096);
        }
        other => panic!(
            "expected OutOfMemory, got {:?}",
            other.map(|r| r.capacity())
        ),
    }
}

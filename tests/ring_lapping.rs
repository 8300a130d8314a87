//! Threads: several writers lapping a small ring while readers poll. No torn or mismatched
//! frame is ever delivered, per-writer order holds, and every reader accounts for every counter
//! (delivered + lost == head). Sized to run under Miri too.
#![allow(clippy::disallowed_types)] // Test scaffolding uses std's atomics directly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use orbit_rs::{Cursor, FrameRef, Head, NodeId, Patience, PublishError, Ring, Slot};

mod common;
use common::{checksum, encode};

const PAYLOAD: usize = 64;

/// Validates a delivered frame; returns (writer, seq).
fn check(frame: &FrameRef<'_>) -> (u16, u64) {
    let p = frame.payload;
    assert!(p.len() >= 14, "short frame {}", p.len());
    let (body, sum) = p.split_at(p.len() - 4);
    assert_eq!(
        checksum(body),
        u32::from_le_bytes(sum.try_into().unwrap()),
        "torn frame {frame:?}"
    );
    let writer = u16::from_le_bytes([p[0], p[1]]);
    let seq = u64::from_le_bytes(p[2..10].try_into().unwrap());
    assert_eq!(
        frame.id.node(),
        NodeId(writer),
        "id node does not match the payload's writer"
    );
    assert_eq!(
        frame.version, seq,
        "version word does not match the payload"
    );
    assert!(frame.id.matches_counter(frame.counter));
    assert_eq!(*p, encode(writer, seq, p.len())[..], "payload bytes differ");
    (writer, seq)
}

struct ReaderLog {
    delivered: u64,
    lost: u64,
    next: u64,
}

/// How the writers of a stress run publish.
#[derive(Clone, Copy, PartialEq)]
enum Writers {
    /// Every writer uses `Ring::publish`.
    Multi,
    /// Writer 0 takes the exclusive lease for bursts of frames, dropping it in between, while
    /// the others keep calling `Ring::publish` (refused with `Leased` during the bursts):
    /// multi-writers that claimed before a lease race its plain-store path.
    LeaseBursts,
}

fn stress(capacity: usize, writers: u16, per_writer: u64, readers: usize) {
    stress_with(capacity, writers, per_writer, readers, Writers::Multi);
}

fn stress_with(capacity: usize, writers: u16, per_writer: u64, readers: usize, how: Writers) {
    let mem: Vec<Slot<PAYLOAD>> = (0..capacity).map(|_| Slot::new()).collect();
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap().with_kind(9);
    let done = AtomicBool::new(false);
    let logs: Vec<ReaderLog> = thread::scope(|s| {
        let readers: Vec<_> = (0..readers)
            .map(|_| {
                let done = &done;
                s.spawn(move || {
                    let mut cursor = Cursor::from_start();
                    let mut last = vec![None::<u64>; usize::from(writers) + 1];
                    let (mut delivered, mut lost) = (0u64, 0u64);
                    let mut visit = |f: FrameRef<'_>| {
                        let (w, seq) = check(&f);
                        let prev = &mut last[usize::from(w)];
                        assert!(prev.is_none_or(|p| p < seq), "writer {w} out of order");
                        *prev = Some(seq);
                    };
                    loop {
                        let finished = done.load(Ordering::Acquire);
                        // Once writers are done nothing is in flight: abandoned counters
                        // (SlotBusy) may be skipped at once.
                        let reader = if finished {
                            ring.with_stall_polls(0)
                        } else {
                            ring
                        };
                        let poll = reader.poll_with(&mut cursor, Patience::Polls, &mut visit);
                        delivered += poll.delivered;
                        lost += poll.loss.total();
                        assert!(!poll.rewound);
                        if finished && cursor.next_counter() == ring.head() {
                            break;
                        }
                        thread::yield_now();
                    }
                    ReaderLog {
                        delivered,
                        lost,
                        next: cursor.next_counter(),
                    }
                })
            })
            .collect();
        let writer_threads: Vec<_> = (0..writers)
            .map(|w| {
                let ring = ring.with_node(NodeId(w));
                s.spawn(move || {
                    let len =
                        |seq: u64| 14 + (seq as usize * 7 + usize::from(w)) % (PAYLOAD - 14 + 1);
                    let mut abandoned = 0u64;
                    if how == Writers::LeaseBursts && w == 0 {
                        let mut seq = 0;
                        while seq < per_writer {
                            let mut writer = ring.exclusive_writer().expect("one lease taker");
                            for _ in 0..(seq % 7 + 1).min(per_writer - seq) {
                                if let Err(e) = writer.publish(0, seq, &encode(w, seq, len(seq))) {
                                    assert!(e.is_transient(), "{e}");
                                    abandoned += 1;
                                }
                                seq += 1;
                            }
                            drop(writer);
                            thread::yield_now();
                        }
                        return abandoned;
                    }
                    let mut seq = 0;
                    while seq < per_writer {
                        match ring.publish(0, seq, &encode(w, seq, len(seq))) {
                            Ok(_) => {}
                            // Nothing claimed: try the same frame again.
                            Err(PublishError::Leased | PublishError::LeaseEnding)
                                if how == Writers::LeaseBursts =>
                            {
                                std::hint::spin_loop();
                                continue;
                            }
                            Err(e) => {
                                assert!(e.is_transient(), "{e}");
                                abandoned += 1;
                            }
                        }
                        seq += 1;
                    }
                    abandoned
                })
            })
            .collect();
        let abandoned: u64 = writer_threads.into_iter().map(|h| h.join().unwrap()).sum();
        // A counter its writer abandoned with nothing committed after it looks exactly like
        // one still being written, so readers would wait at it for ever. A sentinel frame
        // after every writer has finished (no slot is held any more, so it always commits)
        // lets readers account for everything before it.
        ring.with_node(NodeId(writers))
            .publish(0, 0, &encode(writers, 0, 14))
            .expect("sentinel");
        done.store(true, Ordering::Release);
        eprintln!("capacity {capacity}: {abandoned} frames abandoned by writers");
        readers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let head = ring.head();
    assert_eq!(
        head,
        u64::from(writers) * per_writer + 1,
        "every publish claimed one counter"
    );
    for log in logs {
        eprintln!(
            "reader: {} delivered, {} lost of {head}",
            log.delivered, log.lost
        );
        assert_eq!(log.next, head);
        assert_eq!(
            log.delivered + log.lost,
            head,
            "every counter delivered or counted"
        );
    }
}

#[test]
fn four_writers_lap_a_ring_of_four_with_two_readers() {
    let per_writer = if cfg!(miri) { 12 } else { 40_000 };
    stress(4, 4, per_writer, 2);
}

#[test]
fn six_writers_lap_a_ring_of_eight_with_three_readers() {
    let per_writer = if cfg!(miri) { 6 } else { 20_000 };
    stress(8, 6, per_writer, 3);
}

#[test]
fn lease_bursts_race_multi_writers_on_a_ring_of_four() {
    let per_writer = if cfg!(miri) { 10 } else { 30_000 };
    stress_with(4, 4, per_writer, 2, Writers::LeaseBursts);
}

#[test]
fn lease_bursts_race_multi_writers_on_a_ring_of_one() {
    let per_writer = if cfg!(miri) { 8 } else { 20_000 };
    stress_with(1, 3, per_writer, 2, Writers::LeaseBursts);
}

#[test]
fn one_writer_one_reader_delivers_everything_on_a_big_ring() {
    let per_writer = if cfg!(miri) { 20 } else { 50_000 };
    let mem: Vec<Slot<PAYLOAD>> = (0..if cfg!(miri) { 32 } else { 1024 })
        .map(|_| Slot::new())
        .collect();
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            for seq in 0..per_writer {
                ring.publish(0, seq, &encode(0, seq, 32)).unwrap();
            }
        });
        let mut cursor = Cursor::from_start();
        let (mut delivered, mut lost, mut expect) = (0u64, 0u64, 0u64);
        while delivered + lost < per_writer {
            let poll = ring.poll(&mut cursor, |f| {
                let (_, seq) = check(&f);
                assert!(seq >= expect);
                expect = seq + 1;
            });
            delivered += poll.delivered;
            lost += poll.loss.total();
            thread::yield_now();
        }
        assert_eq!(delivered + lost, per_writer);
    });
}

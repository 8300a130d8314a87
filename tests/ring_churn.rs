//! Threads: multi-writers, a lease writer that hands its lease over in bursts (and resets from
//! it), a resetter, and "dead" lease holders broken by identity while live ones publish — all
//! during the load — with readers checking every frame: 0 torn (checksums), 0 stale or
//! duplicated (every writer's sequence strictly increases for every reader, and a frame is
//! delivered under exactly the counter its writer was told), and
//! `delivered + overwritten + unavailable == cursor movement` on every poll.
//!
//! `ORBIT_CHURN_FRAMES` sets the number of frames the writers publish (default 200 000; the
//! closing note of the soundness issue ran it with 10 000 000).
#![allow(clippy::disallowed_types)] // Test scaffolding uses std's atomics directly.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

use orbit_rs::{Cursor, FrameRef, Head, NodeId, Patience, PublishError, Ring, Slot};

mod common;
use common::{checksum, encode};

const PAYLOAD: usize = 64;
/// Writer ids: multi-writers 0..MULTI, then the lease writer.
const MULTI: u16 = 2;
const LEASE_WRITER: u16 = MULTI;
const WRITERS: usize = MULTI as usize + 1;
/// Owner tag of leases taken and abandoned as if their process died.
const DEAD: u32 = 0xDEAD;

/// The checked payload of `writer`'s frame `seq` (`common::encode`).
fn payload(writer: u16, seq: u64) -> Vec<u8> {
    encode(writer, seq, PAYLOAD)
}

fn decode(frame: &FrameRef<'_>) -> (u16, u64) {
    let p = frame.payload;
    assert_eq!(p.len(), PAYLOAD, "short frame");
    assert_eq!(
        checksum(&p[..PAYLOAD - 4]),
        u32::from_le_bytes(p[PAYLOAD - 4..].try_into().unwrap()),
        "torn frame {frame:?}"
    );
    let writer = u16::from_le_bytes([p[0], p[1]]);
    let seq = u64::from_le_bytes(p[2..10].try_into().unwrap());
    assert_eq!(
        frame.id.node(),
        NodeId(writer),
        "id node is not the payload's writer"
    );
    assert_eq!(frame.version, seq, "version word is not the payload's");
    (writer, seq)
}

/// What the writers were told: `told[w][seq] = id counter + 1` (0: not yet known).
struct Told(Vec<Vec<AtomicU64>>);

impl Told {
    fn new(per_writer: u64) -> Self {
        Self(
            (0..WRITERS)
                .map(|_| (0..per_writer).map(|_| AtomicU64::new(0)).collect())
                .collect(),
        )
    }

    fn record(&self, writer: u16, seq: u64, counter: u64) {
        self.0[usize::from(writer)][seq as usize].store(counter + 1, Relaxed);
    }

    fn get(&self, writer: u16, seq: u64) -> Option<u64> {
        let told = self.0[usize::from(writer)][seq as usize].load(Relaxed);
        told.checked_sub(1)
    }
}

#[derive(Debug, Default)]
struct Totals {
    delivered: u64,
    overwritten: u64,
    unavailable: u64,
    rewinds: u64,
    checked_ids: u64,
}

#[test]
fn resets_and_lease_handovers_during_the_load() {
    let frames: u64 = std::env::var("ORBIT_CHURN_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let per_writer = frames / WRITERS as u64;
    let mem: Vec<Slot<PAYLOAD>> = (0..64).map(|_| Slot::new()).collect();
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap().with_kind(5);
    let told = Told::new(per_writer);
    let writers_done = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let resets = AtomicU64::new(0);
    let dead_breaks = AtomicU64::new(0);
    let handovers = AtomicU64::new(0);
    let started = Instant::now();

    let totals: Vec<Totals> = thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (done, told) = (&done, &told);
                s.spawn(move || read_until_done(ring, done, told))
            })
            .collect();
        for w in 0..MULTI {
            let (told, writers_done) = (&told, &writers_done);
            s.spawn(move || {
                let ring = ring.with_node(NodeId(w));
                for seq in 0..per_writer {
                    let payload = payload(w, seq);
                    let id = loop {
                        match ring.publish(0, seq, &payload) {
                            Ok(id) => break id,
                            Err(e) if e.is_transient() || e == PublishError::Leased => {
                                thread::yield_now();
                            }
                            Err(e) => panic!("writer {w}: {e}"),
                        }
                    };
                    told.record(w, seq, id.counter());
                }
                writers_done.fetch_add(1, SeqCst);
            });
        }
        {
            let (told, writers_done, handovers) = (&told, &writers_done, &handovers);
            s.spawn(move || {
                let ring = ring.with_node(NodeId(LEASE_WRITER));
                let mut seq = 0;
                while seq < per_writer {
                    let Ok(mut writer) = ring.exclusive_writer_for(1) else {
                        thread::yield_now();
                        continue;
                    };
                    handovers.fetch_add(1, Relaxed);
                    for _ in 0..(seq % 13 + 1).min(per_writer - seq) {
                        if seq % 997 == 0 {
                            writer.reset().expect("the holder resets");
                        }
                        match writer.publish(0, seq, &payload(LEASE_WRITER, seq)) {
                            Ok(id) => {
                                told.record(LEASE_WRITER, seq, id.counter());
                                seq += 1;
                            }
                            Err(e) if e.is_transient() => {}
                            Err(e) => panic!("lease writer: {e}"),
                        }
                    }
                    drop(writer);
                    thread::yield_now();
                }
                writers_done.fetch_add(1, SeqCst);
            });
        }
        {
            let (writers_done, resets, dead_breaks) = (&writers_done, &resets, &dead_breaks);
            s.spawn(move || {
                let mut round = 0u64;
                while writers_done.load(SeqCst) < WRITERS as u64 {
                    round += 1;
                    if round.is_multiple_of(2) {
                        if ring.reset().is_ok() {
                            resets.fetch_add(1, Relaxed);
                        }
                    } else if let Ok(writer) = ring.exclusive_writer_for(DEAD) {
                        // Its process "dies": the lease stays held until broken by identity.
                        std::mem::forget(writer);
                    }
                    // A breaker judging holders: only leases of dead owners, by their token.
                    if let Some(holder) = ring.lease_holder()
                        && holder.owner() == DEAD
                        && ring.break_lease(holder, 3)
                    {
                        dead_breaks.fetch_add(1, Relaxed);
                    }
                    thread::sleep(Duration::from_micros(200));
                }
            });
        }
        // Writers finish, then a last frame lets readers account for abandoned counters.
        while writers_done.load(SeqCst) < WRITERS as u64 {
            thread::sleep(Duration::from_millis(5));
        }
        while let Some(holder) = ring.lease_holder() {
            assert_eq!(holder.owner(), DEAD, "only dead leases are left");
            ring.break_lease(holder, 3);
        }
        loop {
            match ring.with_node(NodeId(99)).publish(0, 0, &payload(99, 0)) {
                Ok(_) => break,
                Err(e) if e.is_transient() => {}
                Err(e) => panic!("sentinel: {e}"),
            }
        }
        done.store(true, SeqCst);
        readers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    eprintln!(
        "churn: {} frames by {WRITERS} writers in {elapsed:?}; {} resets, {} lease handovers, \
         {} dead leases broken",
        per_writer * WRITERS as u64,
        resets.load(Relaxed),
        handovers.load(Relaxed),
        dead_breaks.load(Relaxed),
    );
    for t in &totals {
        eprintln!(
            "reader: delivered {} overwritten {} unavailable {} rewinds {} ids checked {} \
             (0 torn, 0 stale, 0 duplicated)",
            t.delivered, t.overwritten, t.unavailable, t.rewinds, t.checked_ids
        );
        assert!(t.delivered > 0);
    }
    assert!(resets.load(Relaxed) > 0 && handovers.load(Relaxed) > 1);
}

/// Polls until `done` and caught up, checking every frame and every poll's accounting.
fn read_until_done(ring: Ring<'_, PAYLOAD>, done: &AtomicBool, told: &Told) -> Totals {
    let mut cursor = Cursor::from_start();
    let mut last = [None::<u64>; WRITERS];
    let mut totals = Totals::default();
    loop {
        let finished = done.load(SeqCst);
        let reader = if finished {
            ring.with_stall_polls(0)
        } else {
            ring
        };
        let before = cursor.next_counter();
        let mut frames = Vec::new();
        let poll = reader.poll_with(&mut cursor, Patience::Polls, |f| {
            let (w, seq) = decode(&f);
            frames.push((w, seq, f.counter));
        });
        let from = if poll.rewound { 0 } else { before };
        assert_eq!(
            poll.accounted(),
            cursor.next_counter() - from,
            "every counter passed is delivered or counted"
        );
        for (w, seq, counter) in frames {
            if w == 99 {
                continue; // The sentinel.
            }
            let prev = &mut last[usize::from(w)];
            assert!(
                prev.is_none_or(|p| p < seq),
                "writer {w}: seq {seq} after {prev:?} (stale or duplicated)"
            );
            *prev = Some(seq);
            if let Some(id_counter) = told.get(w, seq) {
                assert_eq!(
                    id_counter, counter,
                    "writer {w} seq {seq} delivered as counter {counter}, told {id_counter}"
                );
                totals.checked_ids += 1;
            }
        }
        totals.delivered += poll.delivered;
        totals.overwritten += poll.loss.overwritten;
        totals.unavailable += poll.loss.unavailable;
        totals.rewinds += u64::from(poll.rewound);
        if finished && cursor.next_counter() == ring.head() && !ring.writer_leased() {
            return totals;
        }
        if poll.is_empty() {
            thread::yield_now();
        }
    }
}

//! loom models of the seq protocol. Run with:
//! `RUSTFLAGS="--cfg loom" cargo test --release --test loom_ring`
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use orbit_rs::{Cursor, FrameRef, Head, NodeId, Patience, Ring, Slot};

/// 16-byte payloads whose two words must come from one writer: `[tag; 16]`.
fn check(frame: &FrameRef<'_>) -> u8 {
    let tag = frame.payload[0];
    assert!(
        frame.payload.iter().all(|&b| b == tag),
        "torn frame {:?}",
        frame.payload
    );
    assert_eq!(
        frame.version,
        u64::from(tag),
        "header and payload from different writers"
    );
    assert_eq!(frame.id.node(), NodeId(u16::from(tag)));
    tag
}

struct Shared {
    slots: Vec<Slot<16>>,
    head: Head,
}

fn shared(capacity: usize) -> Arc<Shared> {
    Arc::new(Shared {
        slots: (0..capacity).map(|_| Slot::new()).collect(),
        head: Head::new(),
    })
}

fn ring(s: &Shared, node: u16) -> Ring<'_, 16> {
    Ring::new(&s.slots, &s.head)
        .unwrap()
        .with_node(NodeId(node))
}

#[test]
fn one_writer_one_reader() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let s = shared(1);
        let w = s.clone();
        let writer = thread::spawn(move || {
            let ring = ring(&w, 1);
            ring.publish(0, 1, &[1; 16]).unwrap();
            let ring = ring.with_node(NodeId(2));
            ring.publish(0, 2, &[2; 16]).unwrap();
        });
        let reader = ring(&s, 0);
        let mut cursor = Cursor::from_start();
        let mut seen = Vec::new();
        let mut accounted = 0;
        for _ in 0..2 {
            let poll = reader.poll_with(&mut cursor, Patience::Wait, |f| seen.push(check(&f)));
            accounted += poll.accounted();
        }
        writer.join().unwrap();
        let poll = reader.poll_with(&mut cursor, Patience::Wait, |f| seen.push(check(&f)));
        accounted += poll.accounted();
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "out of order {seen:?}"
        );
        assert_eq!(accounted, 2);
        assert_eq!(cursor.next_counter(), 2);
        assert_eq!(
            seen.last(),
            Some(&2),
            "the newest frame is delivered once writing ends"
        );
    });
}

#[test]
fn two_lapping_writers_and_a_reader() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        // Capacity 1: the two writers' counters always race for the same slot.
        let s = shared(1);
        let handles: Vec<_> = [1u8, 2]
            .into_iter()
            .map(|tag| {
                let w = s.clone();
                thread::spawn(move || {
                    let ring = ring(&w, u16::from(tag));
                    ring.publish(0, u64::from(tag), &[tag; 16]).is_ok()
                })
            })
            .collect();
        let reader = ring(&s, 0);
        let mut cursor = Cursor::from_start();
        let mut accounted = reader.with_stall_polls(0).poll_with(&mut cursor, Patience::Polls, |f| {
            check(&f);
        });
        let ok: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(ok.iter().any(|&ok| ok), "at least one writer commits");
        let last = reader.with_stall_polls(0).poll_with(&mut cursor, Patience::Polls, |f| {
            check(&f);
        });
        accounted.delivered += last.delivered;
        accounted.loss.overwritten += last.loss.overwritten;
        accounted.loss.unavailable += last.loss.unavailable;
        assert_eq!(accounted.accounted(), cursor.next_counter());
        // A counter abandoned by its writer (SlotBusy) with nothing committed after it is
        // indistinguishable from one still being written: it stays pending until a later
        // frame commits. Everything else is accounted for.
        assert!(
            cursor.next_counter() == 2 || ok.contains(&false),
            "{ok:?} {accounted:?}"
        );
        // The slot ends committed by exactly one writer, intact.
        let head = reader.read_head().expect("a committed frame");
        check(&head.as_ref());
    });
}

/// A multi-writer racing the writer lease on a one-slot ring: the multi-writer may claim
/// counter 0 before the lease and take its slot only after the lease holder came by (the
/// stale claimant the first-lap CAS guards against), or be refused. The lease holder then
/// publishes twice more; with its second lap on a plain store, a stale claimant that could
/// still take the slot would tear a frame. A reader polls throughout.
#[test]
fn a_stale_claimant_never_shares_a_slot_with_the_lease_holder() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let s = shared(1);
        let m = s.clone();
        let multi = thread::spawn(move || ring(&m, 1).publish(0, 1, &[1; 16]));
        let e = s.clone();
        let exclusive = thread::spawn(move || {
            let ring = ring(&e, 2);
            let Ok(mut writer) = ring.exclusive_writer() else {
                unreachable!("only one thread takes the lease");
            };
            let first = writer.publish(0, 2, &[2; 16]);
            let ring = ring.with_node(NodeId(3));
            drop(writer);
            let mut writer = ring.exclusive_writer().unwrap();
            let second = writer.publish(0, 3, &[3; 16]);
            (first, second)
        });
        let reader = ring(&s, 0);
        let mut cursor = Cursor::from_start();
        let mut accounted = reader
            .poll_with(&mut cursor, Patience::GiveUp, |f| {
                check(&f);
            })
            .accounted();
        let multi = multi.join().unwrap();
        let (first, second) = exclusive.join().unwrap();
        assert!(
            matches!(multi, Ok(_) | Err(orbit_rs::PublishError::Leased))
                || multi.is_err_and(|e| e.is_transient()),
            "{multi:?}"
        );
        assert!(first.is_ok() || first.is_err_and(|e| e.is_transient()));
        assert!(second.is_ok() || second.is_err_and(|e| e.is_transient()));
        accounted += reader
            .poll_with(&mut cursor, Patience::GiveUp, |f| {
                check(&f);
            })
            .accounted();
        assert_eq!(accounted, cursor.next_counter());
        if let Some(frame) = reader.read_head() {
            check(&frame.as_ref());
        }
    });
}

//! Single-threaded behaviour of the core ring: construction, publish/poll, loss accounting,
//! cursors, read_head/read, huge counters, resets, stuck writers and hostile slot contents.

use orbit_rs::{
    Cursor, Frame, FrameRef, Head, NetId64, NodeId, Patience, PublishError, Ring, Slot, SpecError,
};

fn slots<const N: usize>(capacity: usize) -> Vec<Slot<N>>
where
    orbit_rs::PayloadSize<N>: orbit_rs::SupportedPayload,
{
    (0..capacity).map(|_| Slot::new()).collect()
}

/// Polls and returns (payloads, poll).
fn drain(ring: &Ring<'_, 64>, cursor: &mut Cursor) -> (Vec<Vec<u8>>, orbit_rs::Poll) {
    let mut got = Vec::new();
    let poll = ring.poll(cursor, |frame: FrameRef<'_>| {
        got.push(frame.payload.to_vec())
    });
    (got, poll)
}

#[test]
fn capacity_must_be_a_nonzero_power_of_two() {
    let head = Head::new();
    let none: Vec<Slot<8>> = slots(0);
    assert_eq!(
        Ring::new(&none, &head).unwrap_err(),
        SpecError::ZeroCapacity
    );
    let three: Vec<Slot<8>> = slots(3);
    assert_eq!(
        Ring::new(&three, &head).unwrap_err(),
        SpecError::NotPowerOfTwo { capacity: 3 }
    );
    let one: Vec<Slot<8>> = slots(1);
    assert_eq!(Ring::new(&one, &head).unwrap().capacity(), 1);
}

#[test]
fn static_ring_needs_no_allocator_or_unsafe() {
    static SLOTS: [Slot<64>; 16] = [Slot::EMPTY; 16];
    static HEAD: Head = Head::new();
    let ring = Ring::new(&SLOTS, &HEAD)
        .unwrap()
        .with_kind(3)
        .with_node(NodeId(9));
    let id = ring.publish(1, 77, b"static").unwrap();
    assert_eq!((id.kind(), id.node(), id.counter()), (3, NodeId(9), 0));
    let frame = ring.read_head().unwrap();
    assert_eq!(
        (frame.id, frame.kind, frame.version, &frame.payload[..]),
        (id, 1, 77, &b"static"[..])
    );
}

#[test]
fn polls_in_order_and_counts_overwritten() {
    let mem = slots::<64>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    let mut cursor = Cursor::from_start();
    for i in 0..10u8 {
        ring.publish(0, i.into(), &[i; 3]).unwrap();
    }
    let (got, poll) = drain(&ring, &mut cursor);
    assert_eq!(got, vec![vec![6; 3], vec![7; 3], vec![8; 3], vec![9; 3]]);
    assert_eq!(
        (poll.delivered, poll.loss.overwritten, poll.loss.unavailable),
        (4, 6, 0)
    );
    assert_eq!(cursor.next_counter(), 10);
    assert!(drain(&ring, &mut cursor).1.is_empty());
}

#[test]
fn cursor_at_head_and_from_counter() {
    let mem = slots::<64>(8);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    ring.publish(0, 0, b"old").unwrap();
    ring.publish(0, 0, b"mid").unwrap();
    let mut at_head = ring.cursor_at_head();
    let mut from_one = Cursor::from_counter(1);
    ring.publish(0, 0, b"new").unwrap();
    assert_eq!(drain(&ring, &mut at_head).0, vec![b"new".to_vec()]);
    assert_eq!(
        drain(&ring, &mut from_one).0,
        vec![b"mid".to_vec(), b"new".to_vec()]
    );
    // A cursor past the head is brought back to it and says so: waiting at 5 would skip
    // counters 3 and 4 without counting them.
    let mut future = Cursor::from_counter(5);
    let (frames, poll) = drain(&ring, &mut future);
    assert!(frames.is_empty() && poll.rewound);
    assert_eq!((future.next_counter(), poll.accounted()), (3, 0));
    for payload in [b"3", b"4", b"5"] {
        ring.publish(0, 0, payload).unwrap();
    }
    let (frames, poll) = drain(&ring, &mut future);
    assert_eq!(frames, [b"3".to_vec(), b"4".to_vec(), b"5".to_vec()]);
    assert!(!poll.rewound);
}

#[test]
fn oversized_payload_claims_nothing() {
    let mem = slots::<16>(2);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    assert_eq!(
        ring.publish(0, 0, &[0; 17]).unwrap_err(),
        PublishError::PayloadTooLarge { len: 17, max: 16 }
    );
    assert_eq!(ring.head(), 0);
    ring.publish(0, 0, &[1; 16]).unwrap();
    assert_eq!(ring.read_head().unwrap().payload.len(), 16);
}

#[test]
fn read_by_exact_id() {
    let mem = slots::<64>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head)
        .unwrap()
        .with_kind(5)
        .with_node(NodeId(2));
    let ids: Vec<NetId64> = (0..6u8)
        .map(|i| ring.publish(0, 0, &[i]).unwrap())
        .collect();
    assert_eq!(ring.read(ids[5]).unwrap().payload[..], [5]);
    assert_eq!(ring.read(ids[2]).unwrap().payload[..], [2]);
    assert!(ring.read(ids[1]).is_none(), "overwritten");
    let wrong_node = NetId64::new(5, NodeId(3), ids[4].counter());
    assert!(ring.read(wrong_node).is_none());
    let wrong_kind = NetId64::new(6, NodeId(2), ids[4].counter());
    assert!(ring.read(wrong_kind).is_none());
    let future = NetId64::new(5, NodeId(2), 6);
    assert!(ring.read(future).is_none());
}

#[test]
fn huge_and_hostile_heads_never_overflow() {
    for start in [
        (1u64 << 40) - 2,
        1 << 62,
        (1 << 63) - 4,
        1 << 63,
        u64::MAX - 1,
        u64::MAX,
    ] {
        let mem = slots::<64>(4);
        // Bit 63 of a head word is the writer lease: `starting_at` keeps the counter bits.
        let head = Head::starting_at(start);
        let start = start & !(1 << 63);
        let ring = Ring::new(&mem, &head).unwrap();
        assert_eq!(ring.head(), start);
        let mut cursor = ring.cursor_at_head();
        let mut from_start = Cursor::from_start();
        let mut published = Vec::new();
        for i in 0..6u8 {
            match ring.publish(0, 0, &[i]) {
                Ok(id) => {
                    assert_eq!(ring.read(id).unwrap().payload[..], [i]);
                    published.push(start + u64::from(i));
                }
                Err(PublishError::CounterExhausted { counter }) => {
                    // Refused without moving the head: it never reaches the lease bit.
                    assert_eq!(counter, ring.head(), "head {start}");
                    assert_eq!(counter, (1 << 63) - 1, "head {start}");
                }
                Err(other) => panic!("unexpected {other:?} at head {start}"),
            }
        }
        assert!(!ring.writer_leased());
        let poll = ring
            .with_stall_polls(0)
            .poll_with(&mut cursor, Patience::Polls, |_| {});
        let oldest = ring.head().saturating_sub(4);
        let in_window = published
            .iter()
            .filter(|&&c| c >= oldest && c < ring.head())
            .count();
        assert_eq!(poll.delivered, in_window as u64, "head {start}");
        assert!(!poll.rewound, "head {start}");
        assert_eq!(
            poll.accounted(),
            cursor.next_counter() - start,
            "head {start}"
        );
        let poll = ring
            .with_stall_polls(0)
            .poll_with(&mut from_start, Patience::Polls, |_| {});
        assert!(poll.accounted() <= from_start.next_counter());
        let _ = ring.read_head();
        let _ = ring.read(NetId64::from_raw(u64::MAX));
    }
}

#[test]
fn id_counter_wrap_is_not_a_loss() {
    let mem = slots::<64>(4);
    let head = Head::starting_at((1 << 40) - 2);
    let ring = Ring::new(&mem, &head).unwrap();
    let mut cursor = ring.cursor_at_head();
    let ids: Vec<_> = (0..4u8)
        .map(|i| ring.publish(0, 0, &[i]).unwrap())
        .collect();
    assert_eq!(
        ids.iter().map(|id| id.counter()).collect::<Vec<_>>(),
        [(1 << 40) - 2, (1 << 40) - 1, 0, 1]
    );
    let (got, poll) = drain(&ring, &mut cursor);
    assert_eq!(got.len(), 4);
    assert_eq!(poll.loss.total(), 0);
    for id in ids {
        assert!(ring.read(id).is_some(), "{id}");
    }
}

#[test]
fn reset_rewinds_live_cursors() {
    let mem = slots::<64>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    let mut cursor = Cursor::from_start();
    for i in 0..3u8 {
        ring.publish(0, 0, &[i]).unwrap();
    }
    assert_eq!(drain(&ring, &mut cursor).1.delivered, 3);
    ring.reset().unwrap();
    assert!(ring.read_head().is_none());
    // More frames than the old cursor position: only the generation reveals the reset.
    for i in 10..15u8 {
        ring.publish(0, 0, &[i]).unwrap();
    }
    let (got, poll) = drain(&ring, &mut cursor);
    assert!(poll.rewound);
    assert_eq!(poll.loss.overwritten, 1);
    assert_eq!(got, vec![vec![11], vec![12], vec![13], vec![14]]);
}

#[test]
fn stuck_writer_is_skipped_after_patience_and_counted() {
    let mem = slots::<64>(8);
    let head = Head::new();
    // Every poll looks at the head: the periodic look of caught-up readers has its own test.
    let ring = Ring::new(&mem, &head)
        .unwrap()
        .with_stall_polls(3)
        .with_head_check_polls(1);
    let mut cursor = Cursor::from_start();
    ring.publish(0, 0, b"a").unwrap();
    let stuck = ring
        .stall_mid_write_for_test(0, 0, b"half-written payload", 1)
        .unwrap();
    // Nothing after it yet: the pending counter is just the end of the stream.
    let (got, poll) = drain(&ring, &mut cursor);
    assert_eq!((got.len(), poll.stalled_at), (1, None));
    ring.publish(0, 0, b"c").unwrap();
    for expected_stall in 1..=3 {
        let (got, poll) = drain(&ring, &mut cursor);
        assert!(got.is_empty(), "stall {expected_stall}");
        assert_eq!(poll.stalled_at, Some(stuck));
        assert_eq!(cursor.next_counter(), stuck);
    }
    let (got, poll) = drain(&ring, &mut cursor);
    assert_eq!(got, vec![b"c".to_vec()]);
    assert_eq!((poll.loss.unavailable, poll.stalled_at), (1, None));
    // Later writers landing on the stuck slot abandon their frame instead of waiting.
    for _ in 0..6 {
        ring.publish(0, 0, b"x").unwrap();
    }
    let err = ring.publish(0, 0, b"lands on the stuck slot").unwrap_err();
    assert_eq!(
        err,
        PublishError::SlotBusy {
            counter: stuck + 8,
            holder: stuck
        }
    );
    ring.publish(0, 0, b"after").unwrap();
    let poll = ring
        .with_stall_polls(0)
        .poll_with(&mut cursor, Patience::Polls, |_| {});
    assert_eq!(poll.accounted(), head_of(&ring) - 3);
    assert_eq!(cursor.next_counter(), head_of(&ring));
    // Waiting patience never gives up.
    let mut waiting = Cursor::from_counter(stuck);
    let poll = ring.poll_with(&mut waiting, Patience::Wait, |_| {});
    assert_eq!(
        poll.loss.overwritten, 2,
        "the stuck counter left the window"
    );
    assert_eq!(
        poll.stalled_at,
        Some(stuck + 8),
        "the abandoned counter is pending for ever"
    );
}

fn head_of(ring: &Ring<'_, 64>) -> u64 {
    ring.head()
}

#[test]
fn hostile_slot_contents_are_counted_not_delivered() {
    let mem = slots::<64>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap().with_kind(7);
    for i in 0..4u8 {
        ring.publish(0, 0, &[i; 8]).unwrap();
    }
    let committed = |c: u64| 2 * c + 2;
    // meta: frame kind bits 0..8, node 8..24, payload length 32..64.
    let meta = |kind: u64, node: u64, len: u64| kind | (node << 8) | (len << 32);
    // Counters 0..2: lengths past the slot (65 bytes, 2^32 - 1 bytes, all ones).
    mem[0].overwrite_raw(&[committed(0), meta(0, 0, 65), 0, 0]);
    mem[1].overwrite_raw(&[committed(1), meta(0, 0, u64::from(u32::MAX)), 0]);
    mem[2].overwrite_raw(&[committed(2), u64::MAX, 0]);
    // Counter 3: a well-formed frame planted by a peer; its id is rebuilt from the ring kind,
    // the node in meta and the counter the seq names.
    mem[3].overwrite_raw(&[
        committed(3),
        meta(5, 513, 8),
        77,
        0,
        u64::from_ne_bytes([9; 8]),
    ]);
    let mut cursor = Cursor::from_start();
    let mut frames = Vec::new();
    let poll = ring.poll(&mut cursor, |f| {
        frames.push(Frame::<64>::from_ref(&f).unwrap())
    });
    assert_eq!(poll.loss.unavailable, 3);
    assert_eq!(frames.len(), 1);
    let f = &frames[0];
    assert_eq!(
        (f.id, f.kind, f.version),
        (NetId64::new(7, NodeId(513), 3), 5, 77)
    );
    assert_eq!(&f.payload[..], &[9; 8]);
    // A seq from a far later lap: gone (overwritten) without delivery.
    mem[3].overwrite_raw(&[committed(1 << 50)]);
    let mut cursor = Cursor::from_counter(3);
    let poll = ring.poll(&mut cursor, |_| panic!("must not deliver"));
    assert_eq!((poll.loss.overwritten, cursor.next_counter()), (1, 4));
    assert!(ring.read_head().is_none());
}

#[test]
fn frames_copy_out_owned() {
    let mem = slots::<64>(2);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    ring.publish(4, 9, b"owned").unwrap();
    let mut owned: Vec<Frame<64>> = Vec::new();
    ring.poll(&mut Cursor::from_start(), |f| {
        owned.push(Frame::from_ref(&f).unwrap())
    });
    assert_eq!(owned[0].as_ref().payload, b"owned");
    assert_eq!(Frame::<4>::from_ref(&owned[0].as_ref()), None);
}

#[test]
fn poll_into_a_caller_buffer_never_skips() {
    let mem = slots::<64>(8);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    for i in 0..5u8 {
        ring.publish(i, 0, &[i; 3]).unwrap();
    }
    let mut buf = [Frame::<64>::empty(), Frame::empty()];
    let mut cursor = Cursor::from_start();
    let mut seen = Vec::new();
    loop {
        let (filled, poll) = ring.poll_into(&mut cursor, &mut buf);
        assert_eq!(poll.delivered, filled as u64);
        assert_eq!(poll.loss.total(), 0);
        seen.extend(buf[..filled].iter().map(|f| (f.kind, f.payload[0])));
        if filled == 0 {
            break;
        }
    }
    assert_eq!(seen, (0..5u8).map(|i| (i, i)).collect::<Vec<_>>());
    assert_eq!(cursor.next_counter(), 5);
}

/// Counters 0 and 1 were claimed by writers that stopped before taking their slots (the head is
/// at 2, the slots are untouched), then counter 2 is published. A caught-up reader that finds
/// untouched slots ends its polls without loading the head, so it learns of the stuck
/// counters only at its periodic look at the head: within `DEFAULT_HEAD_CHECK_POLLS` polls,
/// and at once with a period of 1.
#[test]
fn untouched_slots_are_checked_against_the_head_periodically() {
    for period in [Ring::<16>::DEFAULT_HEAD_CHECK_POLLS, 5, 1] {
        let mem = slots::<16>(4);
        let head = Head::starting_at(2);
        let ring = Ring::new(&mem, &head)
            .unwrap()
            .with_head_check_polls(period);
        ring.publish(0, 0, b"late").unwrap();
        let mut cursor = Cursor::from_start();
        let mut polls = 0;
        let poll = loop {
            polls += 1;
            let poll = ring
                .with_stall_polls(0)
                .poll_with(&mut cursor, Patience::Polls, |_| {});
            if !poll.is_empty() || polls > 10_000 {
                break poll;
            }
        };
        assert_eq!(
            (poll.delivered, poll.loss.unavailable),
            (1, 2),
            "period {period}"
        );
        assert_eq!(polls, period.max(1), "period {period}");
        assert_eq!(cursor.next_counter(), 3);
    }
}

/// A slot left odd for the cursor's counter (a writer that died mid-write) makes the reader
/// look at the head on its first poll, whatever the head-check period.
#[test]
fn a_slot_being_written_makes_the_reader_look_at_the_head() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    assert_eq!(ring.stall_mid_write_for_test(0, 0, b"stuck", 0), Ok(0));
    ring.publish(0, 0, b"next").unwrap();
    let mut cursor = Cursor::from_start();
    let poll = ring
        .with_stall_polls(0)
        .poll_with(&mut cursor, Patience::Polls, |_| {});
    assert_eq!((poll.delivered, poll.loss.unavailable), (1, 1));
    assert_eq!(cursor.next_counter(), 2);
}

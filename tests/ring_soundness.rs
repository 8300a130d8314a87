//! One test per reproduction of the core-soundness review (leases, resets, stuck writers,
//! cursors): each failed against the protocol before the generation base and lease tokens, and
//! passes now. Interleavings that need threads are in `loom_ring.rs` (models with must-fail
//! controls) and `ring_lapping.rs` (stress).

use orbit_rs::ring::slot_loads_for_test;
mod common;

use common::{drain, slots};
use orbit_rs::{Cursor, Frame, Head, NodeId, Patience, PublishError, Ring};

fn payloads(frames: &[Frame<16>]) -> Vec<Vec<u8>> {
    frames.iter().map(|f| f.payload.to_vec()).collect()
}

/// 1. A lease has an identity: a breaker that looked at an old holder cannot break the lease
///    taken after it, a broken holder cannot publish under the next holder's lease, and its
///    drop leaves the next lease alone.
#[test]
fn a_lease_is_broken_and_released_only_by_its_identity() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();

    // A breaker reads holder A, A releases, B takes: breaking A's token now does nothing.
    let a = ring.exclusive_writer_for(1).unwrap();
    let seen = ring.lease_holder().unwrap();
    assert_eq!((seen, seen.owner()), (a.token(), 1));
    drop(a);
    let mut b = ring.exclusive_writer_for(1).unwrap();
    assert_ne!(b.token(), seen, "same owner, new epoch: a new identity");
    assert!(!ring.break_lease(seen, 9), "a stale token breaks nothing");
    b.publish(0, 0, b"b holds").unwrap();

    // B is broken (its holder is taken for gone), C takes the lease: B's next publish is
    // refused and B's drop must not end C's lease.
    assert!(ring.break_lease(b.token(), 9));
    let mut c = ring.exclusive_writer_for(2).unwrap();
    assert_eq!(b.publish(0, 0, b"stale"), Err(PublishError::LeaseLost));
    drop(b);
    assert!(ring.writer_leased());
    assert_eq!(ring.lease_holder(), Some(c.token()));
    assert_eq!(ring.publish(0, 0, b"multi"), Err(PublishError::Leased));
    c.publish(0, 0, b"c holds").unwrap();
    drop(c);
    assert_eq!(ring.lease_holder(), None);
    let (frames, poll) = drain(&ring, &mut Cursor::from_start(), Patience::Polls);
    assert_eq!(
        payloads(&frames),
        [b"b holds".to_vec(), b"c holds".to_vec()]
    );
    assert_eq!(poll.loss.total(), 0);
}

/// 1b. A holder that died mid-write (never dropped) is broken by identity, and the slot it
///     left odd returns to service at once: no later lap abandons a frame there.
#[test]
fn breaking_a_dead_holder_returns_its_slot_to_service() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    let mut dead = ring.exclusive_writer_for(7).unwrap();
    dead.publish(0, 0, b"a").unwrap();
    let token = dead.token();
    // The holder's process is killed after it took slot 1 for counter 1 (seq odd) and before
    // it committed; it never drops its writer.
    std::mem::forget(dead);
    mem[1].overwrite_raw(&[3]); // seq 2c + 1 for counter 1: being written
    let holder = ring.lease_holder().unwrap();
    assert_eq!((holder, holder.owner()), (token, 7));
    assert!(ring.break_lease(holder, 0));
    assert_eq!(ring.head(), 2, "the dead holder's counter is used up");
    // Writers carry on and lap the slot freely: nothing is abandoned.
    for i in 0..12u8 {
        ring.publish(0, 0, &[i]).expect("slot 1 is back in service");
    }
    let mut cursor = Cursor::from_counter(1);
    let (frames, poll) = drain(&ring, &mut cursor, Patience::Wait);
    assert_eq!(poll.accounted(), 13);
    assert_eq!(frames.len(), 4);
    // A reader that got there in time counts the dead holder's frame unavailable, at once.
    let mut early = Cursor::from_counter(1);
    let ring2 = Ring::new(&mem, &head).unwrap();
    let _ = drain(&ring2, &mut early, Patience::Wait);
}

/// 2. A reset cannot race the lease holder's plain head stores: it needs the lease, so it is
///    refused while a writer holds it, and the holder resets through its own handle.
#[test]
fn a_reset_never_undoes_the_lease_holders_head() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    let mut writer = ring.exclusive_writer().unwrap();
    writer.publish(0, 0, b"1").unwrap();
    assert_eq!(ring.reset(), Err(PublishError::Leased));
    writer.publish(0, 0, b"2").unwrap();
    assert_eq!(ring.head(), 2, "nothing moved the head under the holder");
    writer.reset().unwrap();
    writer.publish(0, 0, b"3").unwrap();
    assert_eq!(ring.head(), 1);
    let (frames, _) = drain(&ring, &mut Cursor::from_start(), Patience::Polls);
    assert_eq!(payloads(&frames), [b"3".to_vec()]);
}

/// 3 and 4. A reset touches no slot and never repeats a seq: frames after it land on counters
///    the ring never used, writers are never `Lapped` by what came before, and cursors of the
///    old generation restart at 0 without seeing an old frame again.
#[test]
fn a_reset_is_a_generation_not_a_rewind() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    for i in 0..6u8 {
        ring.publish(0, 0, &[b'a', i]).unwrap();
    }
    let mut old = Cursor::from_start();
    let (frames, _) = drain(&ring, &mut old, Patience::Polls);
    assert_eq!(frames.len(), 4);
    ring.reset().unwrap();
    assert_eq!((ring.head(), ring.generation()), (0, 1));
    assert_eq!(
        ring.read_head(),
        None,
        "old frames are not the new generation's"
    );
    for i in 0..6u8 {
        let id = ring
            .publish(0, 0, &[b'b', i])
            .expect("never lapped by the old generation");
        assert_eq!(
            id.counter(),
            u64::from(i),
            "counters restart at 0 for users"
        );
    }
    let (frames, poll) = drain(&ring, &mut old, Patience::Polls);
    assert!(poll.rewound);
    assert!(frames.iter().all(|f| f.payload[0] == b'b'), "{frames:?}");
    assert_eq!(frames.first().map(|f| f.counter), Some(2));
    assert_eq!(
        poll.loss.overwritten, 2,
        "the new generation's own overwritten frames"
    );
}

/// 4. A writer that claimed its counter before a reset and resumes after it must fail (or be
///    counted): it never commits its old frame as a counter of the new generation, and the
///    new generation's writers are never `Lapped` by it.
#[test]
fn a_claim_from_before_a_reset_is_not_committed_after_it() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    for i in 0..3u8 {
        ring.publish(0, 0, &[i]).unwrap();
    }
    let stale = ring.publish_with_pause_for_test(0, 0, b"stale", || ring.reset().unwrap());
    assert_eq!(stale, Err(PublishError::Reset { counter: 3 }));
    assert!(stale.unwrap_err().is_transient());
    for i in 0..9u8 {
        let id = ring
            .publish(0, 0, &[b'n', i])
            .expect("never lapped by the stale claim");
        assert_eq!(id.counter(), u64::from(i));
    }
    let mut cursor = Cursor::from_start();
    let (frames, poll) = drain(&ring, &mut cursor, Patience::Polls);
    assert!(frames.iter().all(|f| f.payload[0] == b'n'), "{frames:?}");
    assert_eq!((frames.len(), poll.loss.overwritten), (4, 5));
}

/// 5. A poll that straddles a reset (here the visitor itself resets and publishes) delivers
///    nothing of the new generation under the old one: the walk ends at the generation
///    change, and the next poll rewinds and delivers the new frame exactly once.
#[test]
fn a_poll_never_mixes_two_generations() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    ring.publish(0, 0, b"a").unwrap();
    ring.publish(0, 0, b"b").unwrap();
    let mut cursor = Cursor::from_start();
    let mut first = Vec::new();
    let poll = ring.poll(&mut cursor, |f| {
        first.push(f.payload.to_vec());
        if f.payload == b"a" {
            ring.reset().unwrap();
            ring.publish(0, 0, b"new").unwrap();
        }
    });
    assert_eq!(
        first,
        [b"a".to_vec()],
        "nothing after the generation change"
    );
    assert!(!poll.rewound);
    let (frames, poll) = drain(&ring, &mut cursor, Patience::Polls);
    assert!(poll.rewound);
    assert_eq!(payloads(&frames), [b"new".to_vec()]);
    assert_eq!(frames[0].counter, 0);
    assert!(drain(&ring, &mut cursor, Patience::Polls).1.is_empty());
}

/// 6. A writer that died mid-write leaves its slot odd. On *every* later lap the frame that
///    lands there is abandoned, and a reader accounts for it within `stall_polls + 1` polls:
///    an odd seq of an older counter makes the reader look at the head at once instead of
///    waiting out the head-check period (1024 polls) each lap.
#[test]
fn a_dead_writer_costs_each_lap_only_the_stall_budget() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap().with_stall_polls(2);
    assert_eq!(ring.stall_mid_write_for_test(0, 0, b"dies", 1), Ok(0));
    let mut cursor = Cursor::from_start();
    for lap in 0..5u64 {
        let stuck = lap * 4;
        if lap > 0 {
            // Counter `stuck` lands on the dead writer's slot: abandoned, never committed.
            while ring.head() < stuck {
                ring.publish(0, 0, b"x").unwrap();
            }
            let err = ring.publish(0, 0, b"on the odd slot").unwrap_err();
            assert_eq!(
                err,
                PublishError::SlotBusy {
                    counter: stuck,
                    holder: 0
                }
            );
        }
        ring.publish(0, 0, b"after").unwrap();
        // The reader is at `stuck`: it must account for it within stall_polls + 1 polls.
        let _ = drain(&ring, &mut cursor, Patience::Wait);
        assert_eq!(cursor.next_counter(), stuck, "lap {lap}");
        let mut polls = 0;
        while cursor.next_counter() <= stuck {
            polls += 1;
            assert!(
                polls <= 3,
                "lap {lap}: counter {stuck} still pending after {polls} polls"
            );
            ring.poll(&mut cursor, |_| {});
        }
    }
}

/// 7. Giving up is per counter: the deadline of one stuck counter does not make the walk give
///    up on a later counter whose writer is mid-write right now.
#[test]
fn giving_up_on_one_counter_spares_a_live_writer() {
    let mem = slots::<16>(8);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    assert_eq!(ring.stall_mid_write_for_test(0, 0, b"dead", 1), Ok(0));
    assert_eq!(ring.stall_mid_write_for_test(0, 0, b"live", 1), Ok(1));
    ring.publish(0, 0, b"2").unwrap();
    let mut cursor = Cursor::from_start();
    let (_, poll) = drain(&ring, &mut cursor, Patience::Wait);
    assert_eq!(poll.stalled_at, Some(0));
    let (frames, poll) = drain(&ring, &mut cursor, Patience::GiveUpOn(0));
    assert!(frames.is_empty());
    assert_eq!(poll.loss.unavailable, 1, "only counter 0 is given up");
    assert_eq!(poll.stalled_at, Some(1), "the live writer's counter waits");
    assert_eq!(cursor.next_counter(), 1);
}

/// 8. One poll over a window full of pending counters does O(capacity) work, even when it
///    gives up on each of them: no per-counter rescan of the window.
#[test]
#[cfg_attr(miri, ignore = "8192 slots: too slow under Miri")]
fn a_poll_over_pending_counters_is_linear() {
    const CAP: usize = 8192;
    let mem = slots::<16>(CAP);
    let head = Head::new();
    let ring = Ring::new(&mem, &head)
        .unwrap()
        .with_stall_polls(0)
        .with_head_check_polls(1);
    for _ in 0..CAP - 1 {
        ring.claim_only_for_test().unwrap();
    }
    ring.publish(0, 0, b"last").unwrap();
    let mut cursor = Cursor::from_start();
    let before = slot_loads_for_test();
    let (frames, poll) = drain(&ring, &mut cursor, Patience::Polls);
    let loads = slot_loads_for_test() - before;
    assert_eq!((frames.len(), poll.loss.unavailable), (1, CAP as u64 - 1));
    assert!(
        loads <= 2 * CAP as u64 + 2,
        "{loads} slot loads for one poll"
    );
}

/// 9. `read_head` sees the lease holder's newest frame between its commit and its head store.
#[test]
fn read_head_sees_the_holders_frame_before_the_head_moves() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    let mut writer = ring.exclusive_writer().unwrap();
    writer.publish(0, 0, b"older").unwrap();
    let id = writer
        .publish_without_head_for_test(0, 0, b"newest")
        .unwrap();
    assert_eq!(ring.head(), 1, "the head has not moved yet");
    assert_eq!(ring.read_head().unwrap().payload[..], *b"newest");
    assert_eq!(ring.read(id).unwrap().payload[..], *b"newest");
    // A reader may take it on slot evidence and stand one past the head; that is not "ahead".
    let mut cursor = Cursor::from_start();
    let (frames, poll) = drain(&ring, &mut cursor, Patience::Polls);
    assert_eq!(frames.len(), 2);
    assert!(!poll.rewound);
    let poll = ring.with_head_check_polls(1).poll(&mut cursor, |_| {});
    assert!(!poll.rewound);
    assert_eq!(cursor.next_counter(), 2);
}

/// 10. A cursor ahead of the head — built past it, or carried over to a re-created ring that
///     happens to have the same base — is brought back to the head and says so; nothing
///     published meanwhile is skipped uncounted.
#[test]
fn a_cursor_ahead_of_the_head_is_brought_back() {
    let old_mem = slots::<16>(8);
    let old_head = Head::new();
    let old = Ring::new(&old_mem, &old_head).unwrap();
    for _ in 0..100 {
        old.publish(0, 0, b"old").unwrap();
    }
    let mut cursor = Cursor::from_start();
    let _ = drain(&old, &mut cursor, Patience::Polls);
    assert_eq!(cursor.next_counter(), 100);

    // The ring is re-created: same base (0), head 2.
    let mem = slots::<16>(8);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    ring.publish(0, 0, b"0").unwrap();
    ring.publish(0, 0, b"1").unwrap();
    let mut polls = 0;
    loop {
        polls += 1;
        let (frames, poll) = drain(&ring, &mut cursor, Patience::Polls);
        assert!(frames.is_empty());
        if poll.rewound {
            break;
        }
        assert!(
            polls <= Ring::<16>::DEFAULT_HEAD_CHECK_POLLS,
            "never noticed"
        );
    }
    assert_eq!(cursor.next_counter(), 2);
    for i in 2..6u8 {
        ring.publish(0, 0, &[b'0' + i]).unwrap();
    }
    let (frames, poll) = drain(&ring, &mut cursor, Patience::Polls);
    assert_eq!(frames.len(), 4, "frames 2..6 are delivered, none skipped");
    assert_eq!(poll.loss.total(), 0);
}

/// 11. Shared memory cannot forge a "no generation yet" cursor state: whatever value the base
///     word holds (`u64::MAX` included), a cursor that adopted it still sees the next reset.
#[test]
fn a_hostile_base_value_cannot_hide_the_next_reset() {
    let mem = slots::<16>(4);
    let head = Head::new();
    head.forge_for_test(5, u64::MAX);
    let ring = Ring::new(&mem, &head).unwrap();
    // The cursor adopts the generation on its first poll: a base past the head counts from the
    // head, so it never stands past it.
    let mut cursor = Cursor::from_start();
    assert!(drain(&ring, &mut cursor, Patience::Polls).1.is_empty());
    for i in 0..3u8 {
        ring.publish(0, 0, &[i]).unwrap();
    }
    let (frames, _) = drain(&ring, &mut cursor, Patience::Polls);
    assert_eq!(frames.len(), 3);
    assert_eq!(cursor.next_counter(), 3);
    ring.reset().unwrap();
    ring.publish(0, 0, b"new").unwrap();
    let (frames, poll) = drain(&ring, &mut cursor, Patience::Polls);
    assert!(poll.rewound, "the reset is noticed");
    assert_eq!(payloads(&frames), [b"new".to_vec()]);
}

/// The node id of a frame is the one stamped by its writer (unchanged by resets).
#[test]
fn ids_keep_their_node_across_a_reset() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head)
        .unwrap()
        .with_kind(3)
        .with_node(NodeId(9));
    ring.publish(0, 0, b"a").unwrap();
    ring.reset().unwrap();
    let id = ring.publish(0, 0, b"b").unwrap();
    assert_eq!((id.kind(), id.node(), id.counter()), (3, NodeId(9), 0));
    assert_eq!(ring.read(id).unwrap().payload[..], *b"b");
}

/// 12. A caught-up reader whose next slot holds its counter's committed seq over invalid
///     contents (a length past the slot): the poll's delivery run hands the counter to the
///     walk, which counts it unavailable once and goes on to the frame after it — and the
///     poll loads no more slots than one window's.
#[test]
fn a_committed_slot_with_invalid_contents_mid_run_is_counted_once() {
    const CAP: usize = 4;
    let mem = slots::<16>(CAP);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    let mut cursor = Cursor::from_start();
    ring.publish(0, 0, b"a").unwrap();
    assert_eq!(drain(&ring, &mut cursor, Patience::Polls).1.delivered, 1);

    ring.publish(0, 0, b"b").unwrap();
    ring.publish(0, 0, b"c").unwrap();
    // Counter 1's slot: committed for counter 1 (seq 4), a payload length of 17 > 16.
    mem[1].overwrite_raw(&[4, 17 << 32, 0, 0]);
    let before = slot_loads_for_test();
    let (frames, poll) = drain(&ring, &mut cursor, Patience::Polls);
    let loads = slot_loads_for_test() - before;
    assert_eq!(payloads(&frames), [b"c".to_vec()]);
    assert_eq!((poll.loss.unavailable, poll.loss.overwritten), (1, 0));
    assert_eq!(cursor.next_counter(), 3);
    assert!(loads <= CAP as u64 + 1, "{loads} slot loads for one poll");
}

//! Returning a slot stuck mid-write by a dead multi-writer to service (`Ring::stalled_writer`,
//! `Ring::recover_stalled`): who may recover which slot, once, and what readers see. The
//! interleavings are in `loom_ring.rs` (`recover_a_dead_writers_slot`, with its control).

mod common;

use common::slots;
use orbit_rs::{Cursor, Head, Patience, Ring};

/// A tagged writer dies mid-write: a stalled reader learns its tag, recovers the slot once, counts
/// the frame unavailable, and the next lap's writer takes the slot instead of abandoning it.
#[test]
fn a_dead_tagged_writers_slot_is_recovered_once() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let dead = Ring::new(&mem, &head).unwrap().with_owner(41);
    let live = Ring::new(&mem, &head).unwrap().with_owner(42);
    live.publish(0, 0, b"zero").unwrap();
    assert_eq!(
        dead.stall_mid_write_for_test(0, 0, b"torn....", 1).unwrap(),
        1
    );
    live.publish(0, 0, b"two").unwrap();

    let mut cursor = Cursor::from_start();
    let poll = live.poll_with(&mut cursor, Patience::Wait, |_| {});
    assert_eq!((poll.delivered, poll.stalled_at), (1, Some(1)));
    assert_eq!(live.stalled_writer(&cursor), Some(41));
    assert!(
        !live.recover_stalled(&cursor, 42),
        "only the tag that holds the slot"
    );
    assert!(live.recover_stalled(&cursor, 41));
    assert!(!live.recover_stalled(&cursor, 41), "recovered once");
    assert_eq!(live.stalled_writer(&cursor), None);

    let poll = live.poll_with(&mut cursor, Patience::Wait, |f| {
        assert_eq!(f.payload, b"two");
    });
    assert_eq!((poll.delivered, poll.loss.unavailable), (1, 1), "{poll:?}");
    // The next lap of the recovered slot (counter 5) is taken, not abandoned.
    for _ in 3..=5 {
        live.publish(0, 0, b"next lap").unwrap();
    }
    let poll = live.poll_with(&mut cursor, Patience::Wait, |_| {});
    assert_eq!((poll.delivered, poll.loss.total()), (3, 0), "{poll:?}");
}

/// No tag, no recovery: an untagged writer, an exclusive writer (its lease token names it) and a
/// slot the writer committed are never reported as held by anyone.
#[test]
fn untagged_and_finished_writers_name_nobody() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let untagged = Ring::new(&mem, &head).unwrap();
    untagged.stall_mid_write_for_test(0, 0, b"x", 1).unwrap();
    let at_zero = Cursor::from_counter(0);
    assert_eq!(untagged.stalled_writer(&at_zero), None);
    assert!(!untagged.recover_stalled(&at_zero, 0));

    let mem = slots::<16>(4);
    let head = Head::new();
    let tagged = Ring::new(&mem, &head).unwrap().with_owner(7);
    tagged.publish(0, 0, b"done").unwrap();
    assert_eq!(
        tagged.stalled_writer(&at_zero),
        None,
        "a commit clears the tag"
    );
    assert!(!tagged.recover_stalled(&at_zero, 7));
    let mut writer = tagged.exclusive_writer().unwrap();
    assert_eq!(
        writer.token().owner(),
        7,
        "the handle's owner tag names the lease"
    );
    writer.publish(0, 0, b"one").unwrap();
    assert_eq!(tagged.stalled_writer(&Cursor::from_counter(1)), None);
    drop(writer);
    assert_eq!(tagged.lease_holder(), None);
    assert_eq!(tagged.publish(0, 0, b"two").map(|id| id.counter()), Ok(2));
    assert_eq!(
        tagged.reset(),
        Ok(()),
        "a reset runs under a lease recorded for the handle's owner"
    );
}

//! The exclusive writer: lease hand-over with multi-writers, stale claimants and stuck slots,
//! dead holders, broken leases and resets. Concurrency is in `ring_lapping` and `loom_ring`.

mod common;

use common::{drain, slots};
use orbit_rs::{Cursor, Head, NodeId, Patience, PublishError, Ring};

#[test]
fn the_lease_excludes_other_writers_and_hands_the_counter_back() {
    let mem = slots::<16>(8);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap().with_kind(4);
    let mut cursor = Cursor::from_start();
    ring.publish(1, 10, b"multi 0").unwrap();

    let mut writer = ring.with_node(NodeId(7)).exclusive_writer().unwrap();
    assert!(ring.writer_leased());
    assert_eq!(ring.exclusive_writer().err(), Some(PublishError::Leased));
    assert_eq!(ring.publish(1, 0, b"refused"), Err(PublishError::Leased));
    assert!(!PublishError::Leased.is_transient());
    assert_eq!(ring.head(), 1, "a refused publish claims nothing");
    let ids: Vec<_> = (0..3u8)
        .map(|i| writer.publish(2, u64::from(i), &[i; 5]).unwrap())
        .collect();
    assert_eq!(
        ids.iter().map(|id| id.counter()).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(
        ids.iter()
            .all(|id| id.node() == NodeId(7) && id.kind() == 4)
    );
    assert_eq!(ring.head(), 4);
    drop(writer);

    assert!(!ring.writer_leased());
    assert_eq!(ring.publish(1, 11, b"multi 4").unwrap().counter(), 4);
    let (frames, poll) = drain(&ring, &mut cursor, Patience::Polls);
    assert_eq!(poll.loss.total(), 0);
    let got: Vec<_> = frames
        .iter()
        .map(|f| (f.counter, f.kind, f.version))
        .collect();
    assert_eq!(
        got,
        [(0, 1, 10), (1, 2, 0), (2, 2, 1), (3, 2, 2), (4, 1, 11)]
    );
    assert_eq!(&frames[2].payload[..], &[1; 5]);
    for id in ids {
        assert!(ring.read(id).is_some());
    }
}

#[test]
fn laps_over_stale_claims_and_a_stuck_slot() {
    let mem = slots::<16>(4);
    // Counters 0..6 claimed by writers that never took their slots (all still empty).
    let head = Head::starting_at(6);
    let ring = Ring::new(&mem, &head).unwrap().with_head_check_polls(1);
    // A writer stuck mid-write on counter 6 (slot 2).
    assert_eq!(ring.stall_mid_write_for_test(0, 0, &[9; 16], 1), Ok(6));
    let mut cursor = ring.cursor_at_head();
    let mut writer = ring.exclusive_writer().unwrap();
    let mut published = Vec::new();
    for i in 0..12u8 {
        match writer.publish(0, u64::from(i), &[i; 16]) {
            Ok(id) => published.push(id.counter()),
            Err(PublishError::SlotBusy { counter, holder }) => {
                assert_eq!((counter % 4, holder), (2, 6), "only the stuck slot is busy");
            }
            Err(other) => panic!("{other}"),
        }
    }
    // Counters 7..=18: 10 and 14 and 18 land on the stuck slot.
    assert_eq!(ring.head(), 19);
    assert_eq!(published.len(), 9);
    assert!(published.iter().all(|c| c % 4 != 2));
    let impatient = ring.with_stall_polls(0);
    let (frames, poll) = drain(&impatient, &mut cursor, Patience::Polls);
    // The window is 15..19: 7..15 overwritten, 15, 16, 17 delivered; 18 (the stuck slot)
    // looks in flight while nothing after it is committed.
    assert_eq!(
        frames.iter().map(|f| f.counter).collect::<Vec<_>>(),
        [15, 16, 17]
    );
    assert_eq!((poll.loss.overwritten, poll.loss.unavailable), (8, 0));
    assert_eq!(cursor.next_counter(), 18);
    assert_eq!(writer.publish(0, 0, b"after").unwrap().counter(), 19);
    let (frames, poll) = drain(&impatient, &mut cursor, Patience::Polls);
    assert_eq!(frames.iter().map(|f| f.counter).collect::<Vec<_>>(), [19]);
    assert_eq!((poll.loss.overwritten, poll.loss.unavailable), (0, 1));
}

#[test]
fn a_dead_holder_blocks_writers_until_its_lease_is_broken() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    let mut writer = ring.exclusive_writer().unwrap();
    writer.publish(0, 0, b"last words").unwrap();
    // A killed process never drops its writer.
    std::mem::forget(writer);
    assert_eq!(ring.publish(0, 0, b"x"), Err(PublishError::Leased));
    assert_eq!(ring.exclusive_writer().err(), Some(PublishError::Leased));
    let holder = ring.lease_holder().expect("the dead writer's lease");
    assert!(holder.is_writer());
    assert!(ring.break_lease(holder, 0));
    assert!(!ring.break_lease(holder, 0), "nothing left to break");
    assert_eq!(ring.lease_holder(), None);
    assert_eq!(ring.publish(0, 0, b"x").unwrap().counter(), 1);
    let mut cursor = Cursor::from_start();
    assert_eq!(drain(&ring, &mut cursor, Patience::Polls).1.delivered, 2);
}

#[test]
fn a_broken_lease_is_reported_and_its_holder_stands_down() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    let mut old = ring.exclusive_writer().unwrap();
    old.publish(0, 0, b"a").unwrap();
    assert!(ring.break_lease(old.token(), 9));
    assert_eq!(old.publish(0, 0, b"b"), Err(PublishError::LeaseLost));
    assert_eq!(ring.head(), 1, "a lost lease claims nothing");
    let mut new = ring.exclusive_writer().unwrap();
    drop(old);
    assert!(
        ring.writer_leased(),
        "a writer that lost its lease leaves the head alone"
    );
    assert_eq!(new.publish(0, 0, b"c").unwrap().counter(), 1);
    drop(new);
    assert!(!ring.writer_leased());
}

#[test]
fn a_reset_through_the_holder_keeps_the_lease_and_restarts_counters() {
    let mem = slots::<16>(4);
    let head = Head::new();
    let ring = Ring::new(&mem, &head).unwrap();
    let mut writer = ring.exclusive_writer().unwrap();
    let mut cursor = Cursor::from_start();
    for i in 0..3u8 {
        writer.publish(0, 0, &[i]).unwrap();
    }
    assert_eq!(drain(&ring, &mut cursor, Patience::Polls).1.delivered, 3);
    // Nobody but the holder may reset a leased ring: a reset's head store would race its
    // plain stores.
    assert_eq!(ring.reset(), Err(PublishError::Leased));
    assert_eq!(ring.generation(), 0);
    writer.reset().unwrap();
    assert_eq!(ring.generation(), 1);
    assert!(ring.writer_leased());
    assert_eq!(ring.head(), 0);
    assert_eq!(writer.publish(0, 0, b"after").unwrap().counter(), 0);
    let (frames, poll) = drain(&ring, &mut cursor, Patience::Polls);
    assert!(poll.rewound);
    assert_eq!(frames.len(), 1);
    assert_eq!(&frames[0].payload[..], b"after");
}

#[test]
fn exclusive_publish_checks_like_publish() {
    let mem = slots::<16>(2);
    let head = Head::starting_at((1 << 63) - 2);
    let ring = Ring::new(&mem, &head).unwrap();
    let mut writer = ring.exclusive_writer().unwrap();
    assert_eq!(
        writer.publish(0, 0, &[0; 17]),
        Err(PublishError::PayloadTooLarge { len: 17, max: 16 })
    );
    writer.publish(0, 0, b"last").unwrap();
    assert_eq!(ring.head(), (1 << 63) - 1);
    assert_eq!(
        writer.publish(0, 0, b"none"),
        Err(PublishError::CounterExhausted {
            counter: (1 << 63) - 1
        })
    );
    assert!(
        ring.writer_leased(),
        "exhaustion never clears the lease bit"
    );
    assert_eq!(ring.head(), (1 << 63) - 1);
    assert_eq!(writer.ring().capacity(), 2);
}

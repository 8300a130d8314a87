//! Fuzz findings as plain tests, plus a replay of the committed seed corpora.
//!
//! Every file under `fuzz/corpus/{event_decode,netid_parse,ring_hostile,segment_header}/` goes through the
//! same checks as its fuzz target (`tests/checks/`), so `cargo test` on stable exercises the
//! corpus. Each crash a fuzz run finds gets a test here; a bug in the library stays
//! `#[ignore]`d, naming the bug, until the fix lands; all three found so far are fixed.
// Not under Miri: the corpus replay reads files, which Miri's isolation forbids.
#![cfg(not(miri))]

#[path = "checks/event.rs"]
mod event;
#[path = "checks/netid.rs"]
mod netid;
#[path = "checks/ring.rs"]
mod ring;
#[path = "checks/segment.rs"]
mod segment;

use orbit_rs::{Cursor, Head, Ring, Slot};
use std::path::Path;

/// Runs `check` over every file of one target's seed corpus; returns how many there were.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    for file in &files {
        let bytes = std::fs::read(file).expect("corpus file");
        let outcome = std::panic::catch_unwind(|| check(&bytes));
        assert!(outcome.is_ok(), "{} fails its checks", file.display());
    }
    files.len()
}

#[test]
fn event_decode_corpus() {
    assert!(replay("event_decode", event::check) >= 5);
}

#[test]
fn netid_parse_corpus() {
    assert!(replay("netid_parse", netid::check) >= 5);
}

#[test]
fn segment_header_corpus() {
    assert!(replay("segment_header", segment::check) >= 5);
}

#[test]
fn ring_hostile_corpus() {
    assert!(replay("ring_hostile", ring::check) >= 5);
}

/// `ring_hostile` finding (library bug, fixed in 128e9f5): a cursor that started past the head
/// waited on its first poll, but that poll recorded the ring's generation, so the second poll
/// took `next > head` for a head that moved backwards: it reported `rewound` and replayed the
/// ring from counter 0, although nothing changed between the two polls. Under the current
/// contract a cursor past the head is brought back *to the head* (`rewound`) by its first
/// poll: it neither replays what came before the head nor skips what is published after it.
#[test]
fn cursor_past_the_head_is_brought_back_to_the_head() {
    let slots: Vec<Slot<8>> = (0..8).map(|_| Slot::new()).collect();
    let head = Head::new();
    let ring = Ring::new(&slots, &head).unwrap();
    ring.publish(0, 0, b"a").unwrap();
    let mut future = Cursor::from_counter(5);
    let first = ring.poll(&mut future, |frame| panic!("replayed {frame:?}"));
    assert!(first.rewound && first.is_empty(), "{first:?}");
    assert_eq!(future.next_counter(), 1, "brought back to the head");
    let second = ring.poll(&mut future, |frame| panic!("replayed {frame:?}"));
    assert!(!second.rewound && second.is_empty(), "{second:?}");
    assert_eq!(future.next_counter(), 1);
    // Everything published from the head on is delivered: nothing skipped, nothing replayed.
    for i in 1..=5u8 {
        ring.publish(0, 0, &[i]).unwrap();
    }
    let mut got = Vec::new();
    let poll = ring.poll(&mut future, |frame| got.push(frame.counter));
    assert_eq!(
        (got, poll.accounted(), poll.rewound),
        (vec![1, 2, 3, 4, 5], 5, false)
    );
}

/// Found while writing the `ring_hostile` shadow model (library bug, fixed in 128e9f5): a rewind
/// resets the cursor's stall count only when it moves the cursor, so a cursor that was stalled
/// at counter 0 before a reset brings its spent patience into the new generation and gives up
/// on the new counter 0 at its first poll instead of after `stall_polls` polls.
#[test]
fn stall_budget_restarts_after_a_reset() {
    let slots: Vec<Slot<8>> = (0..4).map(|_| Slot::new()).collect();
    let head = Head::new();
    // Every poll looks at the head (the periodic look of caught-up readers is not the point).
    let ring = Ring::new(&slots, &head)
        .unwrap()
        .with_stall_polls(2)
        .with_head_check_polls(1);
    let mut cursor = Cursor::from_start();
    let stuck_then_committed = || {
        assert_eq!(ring.stall_mid_write_for_test(0, 0, b"x", 0), Ok(0));
        ring.publish(0, 0, b"y").unwrap();
    };
    stuck_then_committed();
    for _ in 0..2 {
        assert_eq!(ring.poll(&mut cursor, |_| {}).stalled_at, Some(0));
    }
    ring.reset().unwrap();
    stuck_then_committed();
    let poll = ring.poll(&mut cursor, |_| {});
    assert!(poll.rewound);
    assert_eq!(
        poll.stalled_at,
        Some(0),
        "a new generation's stuck counter: {poll:?}"
    );
    assert_eq!(cursor.next_counter(), 0);
}

/// `ring_hostile` finding after 5d95b75 ("read_head: accept a newer lap committed during the
/// scan"; library bug, fixed in 128e9f5): `read_head` now takes any lap a slot claims, so one slot
/// whose seq and id claim a counter far past the head (corrupt or hostile memory, where no
/// writer could have committed it) is returned as the newest frame. Input that found it: the
/// `head_wraps` seed of `fuzz/corpus/ring_hostile/`.
#[test]
fn read_head_ignores_slots_claiming_counters_past_the_head() {
    let slots: Vec<Slot<8>> = (0..4).map(|_| Slot::new()).collect();
    let head = Head::new();
    let ring = Ring::new(&slots, &head).unwrap().with_kind(1);
    for i in 0..4u8 {
        ring.publish(0, 0, &[i]).unwrap();
    }
    // Counter 3's slot now claims counter 4003 with a well-formed frame (1 byte).
    let future = 3 + 4 * 1000;
    slots[3].overwrite_raw(&[2 * future + 2, 1 << 32, 0, 0, 0xFF]);
    let newest = ring.read_head().expect("counter 2 is still held");
    assert_eq!((newest.counter, &newest.payload[..]), (2, &[2u8][..]));
}

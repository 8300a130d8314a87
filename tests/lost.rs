//! Loss markers (`publish_lost`): frames lost before they reached a ring are counted by its
//! readers as unavailable, in order with the frames around them, and never delivered — on a
//! core ring, on both fleet backings and on the event bus, with a reader keeping up and with
//! one lapped.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{Kind, join};
use orbit_rs::{Cursor, Head, OrbitEventBus, OrbitTyped, Patience, Ring, RingCursor, Slot, Waited};

struct Stream;
impl OrbitTyped for Stream {
    const KIND: u8 = 41;
    const CAPACITY: usize = 16;
}

/// A deterministic schedule of `steps` operations: `Some(n)` = n frames lost upstream,
/// `None` = one frame published.
fn schedule(steps: usize, seed: u64) -> Vec<Option<u32>> {
    let mut x = seed | 1;
    (0..steps)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.is_multiple_of(4).then_some((x >> 8) as u32 % 5)
        })
        .collect()
}

#[test]
fn core_ring_counts_markers_unavailable_in_order() {
    let slots: Vec<Slot<16>> = (0..8).map(|_| Slot::new()).collect();
    let head = Head::new();
    let ring = Ring::new(&slots, &head).unwrap();
    let mut cursor = Cursor::from_start();
    ring.publish(0, 0, b"a").unwrap();
    ring.publish_lost(0).unwrap(); // a no-op
    ring.publish_lost(3).unwrap();
    ring.publish(0, 0, b"b").unwrap();
    let mut seen = Vec::new();
    let poll = ring.poll_with(&mut cursor, Patience::Wait, |f| {
        seen.push((f.counter, f.payload.to_vec()));
    });
    assert_eq!(seen, [(0, b"a".to_vec()), (4, b"b".to_vec())]);
    assert_eq!((poll.loss.unavailable, poll.loss.overwritten), (3, 0));
    assert_eq!(cursor.next_counter(), 5);
    // A lapped reader: markers overwritten by later frames count as overwritten, the rest as
    // unavailable; the sum stays exact.
    ring.publish_lost(20).unwrap();
    ring.publish(0, 0, b"c").unwrap();
    let mut delivered = 0u64;
    let poll = ring.poll_with(&mut cursor, Patience::Wait, |f| {
        assert_eq!(f.payload, b"c");
        delivered += 1;
    });
    assert_eq!(delivered + poll.loss.total(), 21);
    assert_eq!(poll.loss.unavailable, 7); // the 7 markers still in the 8-slot window
}

/// One writer follows `schedule`; one reader (a thread, waiting without spinning) polls until
/// it has accounted for every counter. Checks: delivered + overwritten + unavailable ==
/// published + lost, delivered payloads strictly increase (order kept, nothing twice) and
/// none is a marker.
fn exact_with_a_live_reader(kind: Kind) {
    let fleet = join(kind, "lost-live", 0).unwrap();
    let ring = fleet.0.ring::<Stream>().unwrap();
    let plan = schedule(4000, 0x5EED);
    let published = plan.iter().filter(|s| s.is_none()).count() as u64;
    let lost: u64 = plan.iter().flatten().map(|&n| u64::from(n)).sum();
    let total = published + lost;
    let reader = {
        let ring = ring.clone();
        std::thread::spawn(move || {
            let mut cursor = RingCursor::from_start();
            let (mut delivered, mut overwritten, mut unavailable) = (Vec::new(), 0, 0);
            let deadline = Instant::now() + Duration::from_secs(60);
            while cursor.next_counter() < total {
                assert!(Instant::now() < deadline, "the reader never caught up");
                if ring.wait(&cursor, Duration::from_secs(1)) == Waited::TimedOut {
                    continue;
                }
                let poll = ring.poll_frames(&mut cursor);
                for frame in poll.frames {
                    let bytes: [u8; 8] = frame.payload[..].try_into().expect("no marker");
                    delivered.push(u64::from_le_bytes(bytes));
                }
                overwritten += poll.loss.overwritten;
                unavailable += poll.loss.unavailable;
            }
            (delivered, overwritten, unavailable)
        })
    };
    let mut n = 0u64;
    for step in &plan {
        match step {
            None => {
                ring.publish_frame(1, n, &n.to_le_bytes()).unwrap();
                n += 1;
            }
            Some(count) => ring.publish_lost(*count).unwrap(),
        }
    }
    let (delivered, overwritten, unavailable) = reader.join().unwrap();
    assert_eq!(delivered.len() as u64 + overwritten + unavailable, total);
    assert!(delivered.windows(2).all(|w| w[0] < w[1]), "order kept");
    // With one writer nothing else is unavailable: each unavailable counter is a marker, and
    // every frame or marker the reader missed otherwise was overwritten.
    assert!(unavailable <= lost);
    assert_eq!(
        published - delivered.len() as u64,
        overwritten - (lost - unavailable)
    );
}

/// Two writer threads publish frames and markers at once while a reader keeps up: every
/// counter the ring handed out is delivered or counted, each writer's frames arrive in its
/// order, nothing twice, and no marker is ever delivered.
fn two_writers_with_markers(kind: Kind) {
    let fleet = join(kind, "lost-two", 0).unwrap();
    let ring = fleet.0.ring::<Stream>().unwrap();
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let ring = ring.clone();
            std::thread::spawn(move || {
                for (n, step) in schedule(2000, 0xF00D + w).into_iter().enumerate() {
                    match step {
                        None => {
                            let payload = (w << 32 | n as u64).to_le_bytes();
                            ring.publish_frame(1, w, &payload).unwrap();
                        }
                        Some(count) => ring.publish_lost(count).unwrap(),
                    }
                }
            })
        })
        .collect();
    let mut cursor = RingCursor::from_start();
    let mut last = [None::<u64>; 2];
    let (mut delivered, mut lost) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let poll = ring.poll_frames(&mut cursor);
        for frame in &poll.frames {
            let bytes: [u8; 8] = frame.payload[..].try_into().expect("no marker");
            let (w, n) = (
                u64::from_le_bytes(bytes) >> 32,
                u64::from_le_bytes(bytes) as u32,
            );
            let n = u64::from(n);
            assert!(
                last[w as usize].is_none_or(|l| n > l),
                "writer {w}: order kept"
            );
            last[w as usize] = Some(n);
        }
        delivered += poll.frames.len() as u64;
        lost += poll.loss.total();
        if done && cursor.next_counter() == ring.head() {
            break;
        }
        assert!(Instant::now() < deadline, "the reader never caught up");
        let _ = ring.wait(&cursor, Duration::from_millis(10));
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(delivered + lost, ring.head());
    let markers: u64 = (0..2)
        .flat_map(|w| schedule(2000, 0xF00D + w))
        .flatten()
        .map(u64::from)
        .sum();
    assert!(
        lost >= markers,
        "every marker counted ({lost} lost, {markers} markers)"
    );
}

/// A reader that polls only at the end, after the ring lapped many times: the tail it finds is
/// exactly the last `capacity` counters, markers among them counted unavailable.
fn exact_after_laps(kind: Kind) {
    let fleet = join(kind, "lost-laps", 0).unwrap();
    let ring = fleet.0.ring::<Stream>().unwrap();
    let mut cursor = RingCursor::from_start();
    let plan = schedule(500, 0xACE);
    let mut counters = Vec::new(); // per counter: Some(n) frame, None marker
    let mut n = 0u64;
    for step in &plan {
        match step {
            None => {
                ring.publish_frame(1, n, &n.to_le_bytes()).unwrap();
                counters.push(Some(n));
                n += 1;
            }
            Some(count) => {
                ring.publish_lost(*count).unwrap();
                counters.extend((0..*count).map(|_| None));
            }
        }
    }
    let poll = ring.poll_frames(&mut cursor);
    let window = &counters[counters.len() - Stream::CAPACITY..];
    let expect: Vec<u64> = window.iter().flatten().copied().collect();
    let got: Vec<u64> = poll
        .frames
        .iter()
        .map(|f| u64::from_le_bytes(f.payload[..].try_into().unwrap()))
        .collect();
    assert_eq!(got, expect);
    assert_eq!(
        poll.loss.unavailable,
        window.iter().filter(|c| c.is_none()).count() as u64
    );
    assert_eq!(
        poll.loss.overwritten,
        (counters.len() - Stream::CAPACITY) as u64
    );
}

/// The event bus counts markers in `lagged`, in order.
fn events_count_markers(kind: Kind) {
    let fleet = join(kind, "lost-events", 0).unwrap();
    let bus = OrbitEventBus::with_capacity(fleet.0.clone(), 64).unwrap();
    let mut cursor = bus.cursor_from_start();
    bus.publish("t", b"1").unwrap();
    bus.publish_lost(5).unwrap();
    let first = bus.poll(&mut cursor);
    assert_eq!((first.events.len(), first.lagged), (1, 5));
    bus.publish("t", b"2").unwrap();
    let second = bus.poll(&mut cursor);
    assert_eq!((second.events.len(), second.lagged), (1, 0));
    assert_eq!(second.events[0].payload, b"2");
    assert_eq!(cursor.next_counter(), 7);
}

/// A waiter blocked on the ring wakes for a marker (it is news: loss to count).
fn markers_wake_waiters(kind: Kind) {
    let fleet = join(kind, "lost-wake", 0).unwrap();
    let ring = fleet.0.ring::<Stream>().unwrap();
    let cursor = ring.cursor_at_head();
    let waiter = {
        let ring = ring.clone();
        std::thread::spawn(move || ring.wait(&cursor, Duration::from_secs(30)))
    };
    std::thread::sleep(Duration::from_millis(20));
    ring.publish_lost(1).unwrap();
    assert_eq!(waiter.join().unwrap(), Waited::Ready);
}

/// Markers from a fleet handle in another process of a shared-memory fleet are counted by a
/// reader here (the void meta crosses processes like any frame).
#[cfg(all(feature = "shm", target_os = "linux"))]
#[test]
fn markers_cross_processes() {
    use orbit_rs::Fleet;
    use std::sync::Arc;
    let name = common::unique_name("lost-xproc");
    let fleet = Arc::new(Fleet::join_shm_as(&name, 4, 0).unwrap());
    let guard = common::TestFleet(fleet.clone());
    let ring = fleet.ring::<Stream>().unwrap();
    let mut cursor = RingCursor::from_start();
    let status = common::child_command(&[], "child_publishes_markers", "markers")
        .env("ORBIT_LOST_FLEET", &name)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let poll = ring.poll_frames(&mut cursor);
    assert_eq!(poll.frames.len(), 2);
    assert_eq!((poll.loss.unavailable, poll.loss.overwritten), (4, 0));
    assert_eq!(poll.frames[1].id.node().get(), 1);
    drop(guard);
}

#[cfg(all(feature = "shm", target_os = "linux"))]
#[test]
#[ignore = "a child process of markers_cross_processes"]
fn child_publishes_markers() {
    use orbit_rs::Fleet;
    if std::env::var(common::ROLE).as_deref() != Ok("markers") {
        return;
    }
    let name = std::env::var("ORBIT_LOST_FLEET").unwrap();
    let fleet = Fleet::join_shm_as(&name, 4, 1).unwrap();
    let ring = fleet.ring::<Stream>().unwrap();
    ring.publish_frame(1, 0, b"before").unwrap();
    ring.publish_lost(4).unwrap();
    ring.publish_frame(1, 0, b"after").unwrap();
}

on_both_backings!(
    exact_with_a_live_reader,
    two_writers_with_markers,
    exact_after_laps,
    events_count_markers,
    markers_wake_waiters
);

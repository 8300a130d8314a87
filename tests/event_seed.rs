//! The reference system's four event-bus tests, on the in-process and the shared-memory
//! backing, plus the bus's error and reset behaviour.

#[macro_use]
mod common;

use common::{Kind, TestFleet, join};
use orbit_rs::{EVENT_PAYLOAD_MAX, Error, OrbitEventBus, OrbitEventCursor};

fn bus(kind: Kind, label: &str) -> (TestFleet, OrbitEventBus) {
    let fleet = join(kind, label, 1).expect("fleet");
    let bus = OrbitEventBus::new(fleet.0.clone()).expect("event ring");
    (fleet, bus)
}

fn polls_events_since_cursor(kind: Kind) {
    let (_fleet, bus) = bus(kind, "event_poll");
    let mut cursor = bus.cursor_from_start();

    bus.publish("worker.booted", b"w1").expect("publish first");
    bus.publish("cache.reset", b"all").expect("publish second");

    let poll = bus.poll(&mut cursor);
    assert_eq!(poll.lagged, 0);
    assert_eq!(poll.events.len(), 2);
    assert_eq!(poll.events[0].topic, "worker.booted");
    assert_eq!(poll.events[0].payload, b"w1");
    assert_eq!(poll.events[1].topic, "cache.reset");
    assert_eq!(poll.events[1].payload, b"all");

    assert!(bus.poll(&mut cursor).is_empty());
}

fn cursor_at_head_only_reads_future_events(kind: Kind) {
    let (_fleet, bus) = bus(kind, "event_head");

    bus.publish("old", b"ignored").expect("publish old");
    let mut cursor = bus.cursor_at_head();
    bus.publish("new", b"seen").expect("publish new");

    let poll = bus.poll(&mut cursor);
    assert_eq!(poll.events.len(), 1);
    assert_eq!(poll.events[0].topic, "new");
}

fn topic_filter_advances_cursor(kind: Kind) {
    let (_fleet, bus) = bus(kind, "event_topic");
    let mut cursor = bus.cursor_from_start();

    bus.publish("a", b"1").expect("publish a");
    bus.publish("b", b"2").expect("publish b");

    let poll = bus.poll_topic(&mut cursor, "b");
    assert_eq!(poll.events.len(), 1);
    assert_eq!(poll.events[0].payload, b"2");
    assert!(bus.poll(&mut cursor).is_empty());
}

fn reports_lag_when_cursor_falls_behind_capacity(kind: Kind) {
    let fleet = join(kind, "event_lag", 1).expect("fleet");
    let bus = OrbitEventBus::with_capacity(fleet.0.clone(), 2).expect("event ring");
    let mut cursor = bus.cursor_from_start();

    bus.publish("n", b"1").expect("publish 1");
    bus.publish("n", b"2").expect("publish 2");
    bus.publish("n", b"3").expect("publish 3");

    let poll = bus.poll(&mut cursor);
    assert_eq!(poll.lagged, 1);
    assert_eq!(poll.events.len(), 2);
    assert_eq!(poll.events[0].payload, b"2");
    assert_eq!(poll.events[1].payload, b"3");
}

fn oversized_events_are_refused_with_sizes(kind: Kind) {
    let (_fleet, bus) = bus(kind, "event_big");
    let payload = vec![0u8; EVENT_PAYLOAD_MAX];
    match bus.publish("t", &payload) {
        Err(Error::EventFrameTooLarge {
            topic_len,
            payload_len,
            max_payload,
        }) => {
            assert_eq!(
                (topic_len, payload_len, max_payload),
                (1, EVENT_PAYLOAD_MAX, EVENT_PAYLOAD_MAX)
            );
        }
        other => panic!("expected EventFrameTooLarge, got {other:?}"),
    }
    let fits = vec![7u8; EVENT_PAYLOAD_MAX - 12 - 1];
    bus.publish("t", &fits).expect("exactly one slot fits");
    let poll = bus.poll(&mut bus.cursor_from_start());
    assert_eq!(poll.events[0].payload, fits);
}

fn reset_is_reported_to_live_cursors(kind: Kind) {
    let (_fleet, bus) = bus(kind, "event_reset");
    let mut cursor = bus.cursor_from_start();
    for i in 0..3u8 {
        bus.publish("before", &[i]).unwrap();
    }
    assert_eq!(bus.poll(&mut cursor).events.len(), 3);
    bus.reset_ring().unwrap();
    for i in 0..5u8 {
        bus.publish("after", &[i]).unwrap();
    }
    let poll = bus.poll(&mut cursor);
    assert!(poll.rewound, "the reset must be reported");
    assert_eq!(poll.lagged, 0);
    assert_eq!(
        poll.events.iter().map(|e| e.payload[0]).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert!(
        poll.events.iter().all(|e| e.topic == "after"),
        "no stale event is replayed"
    );
    let mut from_counter = OrbitEventCursor::from_counter(4);
    assert_eq!(bus.poll(&mut from_counter).events.len(), 1);
}

on_both_backings!(
    polls_events_since_cursor,
    cursor_at_head_only_reads_future_events,
    topic_filter_advances_cursor,
    reports_lag_when_cursor_falls_behind_capacity,
    oversized_events_are_refused_with_sizes,
    reset_is_reported_to_live_cursors,
);

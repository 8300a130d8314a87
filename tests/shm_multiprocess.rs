//! Real processes sharing a shared-memory fleet: the test binary re-executes itself with
//! `ORBIT_TEST_ROLE` set, and `child_entry` plays that role.
#![cfg(all(feature = "shm", unix))]

mod common;

use std::collections::HashMap;
use std::env;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orbit_rs::{Fleet, OrbitEventBus, OrbitEventCursor};

use common::ROLE;

fn env_u64(key: &str) -> u64 {
    env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} not set"))
}

/// Payload: writer (u16) | sequence (u64) | checksum of both (u32).
fn payload(writer: u16, seq: u64) -> [u8; 14] {
    let mut p = [0u8; 14];
    p[..2].copy_from_slice(&writer.to_le_bytes());
    p[2..10].copy_from_slice(&seq.to_le_bytes());
    let sum = (u64::from(writer) ^ seq.rotate_left(17)).wrapping_mul(0x9E37_79B9) as u32;
    p[10..].copy_from_slice(&sum.to_le_bytes());
    p
}

fn parse(p: &[u8]) -> (u16, u64) {
    assert_eq!(p.len(), 14, "torn or foreign frame {p:?}");
    let writer = u16::from_le_bytes([p[0], p[1]]);
    let seq = u64::from_le_bytes(p[2..10].try_into().unwrap());
    assert_eq!(p, payload(writer, seq), "corrupt frame");
    (writer, seq)
}

fn join(name: &str, node: u16) -> (Arc<Fleet>, OrbitEventBus) {
    let fleet = Arc::new(Fleet::join_shm_as(name, 256, node).expect("join"));
    let bus = OrbitEventBus::new(fleet.clone()).expect("event ring");
    (fleet, bus)
}

/// The child side, run only in processes the tests spawn (`--ignored --exact child_entry`);
/// ignored in the normal run, so it never counts as a test that passed without checking
/// anything.
#[test]
#[ignore = "child-process entry point: the multi-process tests run it"]
fn child_entry() {
    let role = env::var(ROLE).expect("child_entry runs only inside a spawned child");
    let name = env::var("ORBIT_FLEET").unwrap();
    let node = env_u64("ORBIT_NODE") as u16;
    match role.as_str() {
        "publish" => {
            let (_fleet, bus) = join(&name, node);
            for seq in 0..env_u64("ORBIT_COUNT") {
                bus.publish("load", &payload(node, seq)).expect("publish");
            }
        }
        "poll" => {
            let (_fleet, bus) = join(&name, node);
            let mut cursor = OrbitEventCursor::from_start();
            let poll = bus.poll(&mut cursor);
            let sum: u64 = poll.events.iter().map(|e| parse(&e.payload).1).sum();
            println!(
                "ORBIT polled {} lagged {} sum {sum}",
                poll.events.len(),
                poll.lagged
            );
        }
        "race" => {
            let start = env_u64("ORBIT_START_MS");
            while now_ms() < start {
                std::hint::spin_loop();
            }
            let (fleet, bus) = join(&name, node);
            bus.publish("boot", &payload(node, 0)).expect("publish");
            let created = fleet.created_ring::<EventKind>().expect("ring");
            println!("ORBIT created {created}");
        }
        "stall" => {
            let (_fleet, bus) = join(&name, node);
            let counter = bus.stall_mid_write_for_test().expect("stall");
            println!("ORBIT stalled {counter}");
            thread::sleep(Duration::from_secs(60)); // Killed by the parent long before.
        }
        "orbital" => {
            let fleet = Arc::new(Fleet::join_shm_as(&name, 256, node).expect("join"));
            let gauge = orbit_rs::Orbital::<Gauge>::new(fleet).expect("ring");
            let seen = gauge.load().expect("parent stored a value");
            println!("ORBIT loaded {} {}", seen.value, seen.seq);
            gauge
                .store(&Gauge {
                    value: seen.value * 2.0,
                    seq: seen.seq + 1,
                })
                .expect("store");
        }
        "lease" => {
            let fleet = Arc::new(Fleet::join_shm_as(&name, 256, node).expect("join"));
            let ring = fleet.ring::<Leased>().expect("ring");
            let mut writer = ring.exclusive_writer().expect("lease");
            for seq in 0..3 {
                writer
                    .publish_frame(0, seq, &payload(node, seq))
                    .expect("publish");
            }
            println!("ORBIT leased");
            thread::sleep(Duration::from_secs(60)); // Killed by the parent long before.
        }
        "steady_lease" => {
            // An exclusive writer publishing until killed. When the fleet is unlinked its lease
            // is lost (the segment retired): it takes a new one, on the fresh segment.
            let fleet = Arc::new(Fleet::join_shm_as(&name, 256, node).expect("join"));
            let ring = fleet.ring::<Steady>().expect("ring");
            let mut writer = ring.exclusive_writer().expect("lease");
            for seq in 0.. {
                match writer.publish_frame(0, seq, &payload(node, seq)) {
                    Ok(_) => {}
                    Err(orbit_rs::Error::Publish(orbit_rs::PublishError::LeaseLost)) => {
                        writer = ring
                            .exclusive_writer()
                            .expect("a lease on the fresh segment");
                        println!("ORBIT moved at {seq}");
                    }
                    Err(other) => panic!("publish: {other}"),
                }
                if seq % 64 == 0 {
                    thread::sleep(Duration::from_micros(200));
                }
            }
        }
        "steady_publish" => {
            // Publishes until killed, a frame every few microseconds.
            let (_fleet, bus) = join(&name, node);
            for seq in 0.. {
                bus.publish("load", &payload(node, seq)).expect("publish");
                if seq % 64 == 0 {
                    thread::sleep(Duration::from_micros(200));
                }
            }
        }
        "churn_publish" => {
            let (_fleet, bus) = join(&name, node);
            let (count, started) = (env_u64("ORBIT_COUNT"), Instant::now());
            let min = Duration::from_millis(env_u64("ORBIT_MIN_MS"));
            for seq in (0..).take_while(|&seq| seq < count || started.elapsed() < min) {
                // Resets run during the load: a publish abandoned by one is published again.
                // So does one refused while the lease writer process holds the ring.
                while let Err(e) = bus.publish("load", &payload(node, seq)) {
                    match e {
                        orbit_rs::Error::Publish(p)
                            if p.is_transient() || p == orbit_rs::PublishError::Leased => {}
                        other => panic!("publish: {other}"),
                    }
                }
            }
        }
        "churn_lease" => {
            // The exclusive writer of the event ring for bursts, handing the lease back in
            // between, and resetting the ring from the lease now and then.
            let fleet = Arc::new(Fleet::join_shm_as(&name, 256, node).expect("join"));
            let ring = fleet.ring::<EventKind>().expect("event ring");
            let (count, started) = (env_u64("ORBIT_COUNT"), Instant::now());
            let min = Duration::from_millis(env_u64("ORBIT_MIN_MS"));
            let (mut seq, mut bursts) = (0u64, 0u64);
            let mut frame = [0u8; orbit_rs::EVENT_PAYLOAD_MAX];
            while seq < count || started.elapsed() < min {
                let Ok(mut writer) = ring.exclusive_writer() else {
                    thread::yield_now();
                    continue;
                };
                bursts += 1;
                if bursts.is_multiple_of(50) {
                    writer.reset().expect("the holder resets");
                }
                for _ in 0..(bursts % 13 + 1) {
                    let len =
                        orbit_rs::codec::encode_into(&mut frame, "load", &payload(node, seq), 0)
                            .expect("fits");
                    match writer.publish_frame(orbit_rs::event::EVENT_FRAME_KIND, 0, &frame[..len])
                    {
                        Ok(_) => seq += 1,
                        Err(orbit_rs::Error::Publish(p)) if p.is_transient() => {}
                        Err(other) => panic!("lease publish: {other}"),
                    }
                }
                drop(writer);
                thread::yield_now();
            }
            println!("ORBIT bursts {bursts} frames {seq}");
        }
        "churn_poll" => {
            let (_fleet, bus) = join(&name, node);
            let mut cursor = OrbitEventCursor::from_start();
            let mut last: HashMap<u16, u64> = HashMap::new();
            let (mut delivered, mut lagged, mut rewinds) = (0u64, 0u64, 0u64);
            let deadline = Instant::now() + Duration::from_secs(120);
            'polling: loop {
                assert!(Instant::now() < deadline, "poller timed out");
                let before = cursor.next_counter();
                let poll = bus.poll(&mut cursor);
                let from = if poll.rewound { 0 } else { before };
                assert_eq!(
                    poll.events.len() as u64 + poll.lagged,
                    cursor.next_counter() - from,
                    "every counter passed is delivered or counted"
                );
                delivered += poll.events.len() as u64;
                lagged += poll.lagged;
                rewinds += u64::from(poll.rewound);
                for event in &poll.events {
                    if event.topic == "stop" {
                        break 'polling;
                    }
                    let (writer, seq) = parse(&event.payload);
                    assert_eq!(event.id.node().get(), writer);
                    if let Some(prev) = last.insert(writer, seq) {
                        assert!(
                            seq > prev,
                            "writer {writer}: {seq} after {prev} (stale or duplicate)"
                        );
                    }
                }
                if poll.events.is_empty() {
                    thread::yield_now();
                }
            }
            println!("ORBIT delivered {delivered} lagged {lagged} rewinds {rewinds}");
        }
        other => panic!("unknown role {other}"),
    }
}

/// The event ring's kind, to ask the fleet whether this process created it.
struct EventKind;
impl orbit_rs::OrbitTyped for EventKind {
    const KIND: u8 = orbit_rs::event::EVENT_RING_KIND;
    const CAPACITY: usize = orbit_rs::event::EVENT_RING_CAPACITY;
}

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Gauge {
    value: f64,
    seq: u64,
}
/// A ring written under an exclusive writer lease.
/// The ring of `steady_lease`: 16-byte payloads (the 32-byte slot class).
struct Steady;
impl orbit_rs::OrbitTyped for Steady {
    const KIND: u8 = 53;
    const CAPACITY: usize = 64;
    const PAYLOAD: usize = 16;
}

struct Leased;
impl orbit_rs::OrbitTyped for Leased {
    const KIND: u8 = 51;
    const CAPACITY: usize = 16;
}

impl orbit_rs::OrbitTyped for Gauge {
    const KIND: u8 = 50;
    const CAPACITY: usize = 1;
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn spawn(role: &str, fleet: &str, node: u16, extra: &[(&str, String)]) -> Child {
    let mut cmd = common::child_command(&[], "child_entry", role);
    cmd.env("ORBIT_FLEET", fleet)
        .env("ORBIT_NODE", node.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child")
}

fn wait_ok(mut child: Child) {
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed: {status}");
}

struct Cleanup(Arc<Fleet>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.0.unlink();
    }
}

#[test]
fn child_publishes_parent_polls() {
    let name = common::unique_name("c2p");
    let (fleet, bus) = join(&name, 0);
    let _c = Cleanup(fleet);
    let mut cursor = bus.cursor_at_head();
    wait_ok(spawn("publish", &name, 7, &[("ORBIT_COUNT", "100".into())]));
    let poll = bus.poll(&mut cursor);
    assert_eq!(poll.lagged, 0);
    let seqs: Vec<u64> = poll.events.iter().map(|e| parse(&e.payload).1).collect();
    assert_eq!(seqs, (0..100).collect::<Vec<_>>());
    assert!(
        poll.events
            .iter()
            .all(|e| e.id.node().get() == 7 && e.topic == "load")
    );
}

#[test]
fn parent_publishes_child_polls() {
    let name = common::unique_name("p2c");
    let (fleet, bus) = join(&name, 0);
    let _c = Cleanup(fleet);
    for seq in 0..100 {
        bus.publish("load", &payload(0, seq)).unwrap();
    }
    let mut child = spawn("poll", &name, 3, &[]);
    let lines = common::orbit_lines(&mut child);
    let line = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("child report");
    wait_ok(child);
    assert_eq!(
        line,
        format!("polled 100 lagged 0 sum {}", (0..100u64).sum::<u64>())
    );
}

#[test]
fn three_writer_processes_while_the_parent_polls() {
    const PER_WRITER: u64 = 100_000;
    let name = common::unique_name("3w");
    let (fleet, bus) = join(&name, 0);
    let _c = Cleanup(fleet.clone());
    let mut cursor = bus.cursor_at_head();
    let start = bus.cursor_at_head().next_counter();
    let children: Vec<Child> = (1..=3)
        .map(|node| {
            spawn(
                "publish",
                &name,
                node,
                &[("ORBIT_COUNT", PER_WRITER.to_string())],
            )
        })
        .collect();
    let mut last: HashMap<u16, u64> = HashMap::new();
    let (mut delivered, mut lagged) = (0u64, 0u64);
    let mut running = children;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let poll = bus.poll(&mut cursor);
        lagged += poll.lagged;
        assert!(!poll.rewound);
        for event in &poll.events {
            let (writer, seq) = parse(&event.payload);
            assert_eq!(event.id.node().get(), writer);
            if let Some(prev) = last.insert(writer, seq) {
                assert!(
                    seq > prev,
                    "writer {writer}: {seq} after {prev} (duplicate or reorder)"
                );
            }
            delivered += 1;
        }
        running.retain_mut(|c| match c.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "writer failed: {status}");
                false
            }
            None => true,
        });
        let head = fleet.ring::<EventKind>().map(|r| r.head()).unwrap();
        if running.is_empty() && cursor.next_counter() == head {
            break;
        }
        assert!(Instant::now() < deadline, "timed out");
        if poll.events.is_empty() {
            thread::yield_now();
        }
    }
    // Counters = events + frames writers abandoned and re-published (slot still held by a
    // writer of the previous lap); each abandoned counter is counted as lagged too.
    let total = fleet.ring::<EventKind>().map(|r| r.head()).unwrap() - start;
    assert!(total >= 3 * PER_WRITER);
    assert_eq!(
        delivered + lagged,
        total,
        "every counter delivered or counted as lagged"
    );
    eprintln!("3 writers x {PER_WRITER}: {total} counters, delivered {delivered}, lagged {lagged}");
    assert!(delivered > 0 && delivered <= 3 * PER_WRITER);
}

#[test]
fn writer_killed_mid_write_does_not_stall_anyone() {
    let name = common::unique_name("kill");
    let (fleet, bus) = join(&name, 0);
    let _c = Cleanup(fleet.clone());
    let mut cursor = bus.cursor_at_head();
    bus.publish("load", &payload(0, 0)).unwrap();
    let mut child = spawn("stall", &name, 5, &[]);
    let lines = common::orbit_lines(&mut child);
    let line = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("child stalled");
    let stuck: u64 = line.strip_prefix("stalled ").unwrap().parse().unwrap();
    child.kill().unwrap(); // SIGKILL while it holds the slot half-written.
    child.wait().unwrap();

    // Other writers keep going: this process, and another process.
    for seq in 1..=20 {
        bus.publish("load", &payload(0, seq)).unwrap();
    }
    wait_ok(spawn("publish", &name, 6, &[("ORBIT_COUNT", "20".into())]));
    // Lap the ring so later writers land on the stuck slot: they abandon and retry.
    let capacity = orbit_rs::event::EVENT_RING_CAPACITY as u64;
    for seq in 21..21 + capacity {
        bus.publish("load", &payload(0, seq)).unwrap();
    }

    let head = fleet.ring::<EventKind>().map(|r| r.head()).unwrap();
    let (mut delivered, mut lagged) = (0u64, 0u64);
    let start = Instant::now();
    while cursor.next_counter() < head {
        let poll = bus.poll(&mut cursor);
        delivered += poll.events.len() as u64;
        lagged += poll.lagged;
        for event in &poll.events {
            parse(&event.payload);
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "reader stalled at {}",
            cursor.next_counter()
        );
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(cursor.next_counter(), head);
    assert_eq!(
        delivered + lagged,
        head - (stuck - 1),
        "everything accounted for"
    );
    assert!(lagged >= 1, "the killed writer's frame is counted");
    let published = 1 + 20 + 20 + capacity;
    assert!(
        delivered + capacity >= published,
        "delivered {delivered} of {published}"
    );
}

#[test]
fn eight_processes_boot_race() {
    let name = common::unique_name("race");
    let start_at = now_ms() + 400;
    let children: Vec<Child> = (0..8)
        .map(|node| {
            spawn(
                "race",
                &name,
                node,
                &[("ORBIT_START_MS", start_at.to_string())],
            )
        })
        .collect();
    let mut created = 0;
    for mut child in children {
        let lines = common::orbit_lines(&mut child);
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("child report");
        wait_ok(child);
        created += usize::from(line == "created true");
        assert!(line == "created true" || line == "created false", "{line}");
    }
    assert_eq!(created, 1, "exactly one process creates the segment");
    let (fleet, bus) = join(&name, 9);
    let _c = Cleanup(fleet);
    let poll = bus.poll(&mut OrbitEventCursor::from_start());
    assert_eq!((poll.events.len(), poll.lagged), (8, 0));
    let mut nodes: Vec<u16> = poll.events.iter().map(|e| parse(&e.payload).0).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, (0..8).collect::<Vec<_>>());
}

#[test]
fn orbital_values_cross_processes() {
    let name = common::unique_name("orbital");
    let fleet = Arc::new(Fleet::join_shm_as(&name, 256, 0).unwrap());
    let _c = Cleanup(fleet.clone());
    let gauge = orbit_rs::Orbital::<Gauge>::new(fleet).unwrap();
    gauge
        .store(&Gauge {
            value: 21.25,
            seq: 1,
        })
        .unwrap();
    let mut child = spawn("orbital", &name, 4, &[]);
    let lines = common::orbit_lines(&mut child);
    assert_eq!(
        lines.recv_timeout(Duration::from_secs(60)).unwrap(),
        "loaded 21.25 1"
    );
    wait_ok(child);
    assert_eq!(
        gauge.load(),
        Some(Gauge {
            value: 42.5,
            seq: 2
        })
    );
}

/// A child process holds a fleet ring's writer lease: the parent's publishes and lease
/// requests are refused while it lives. Once it is SIGKILLed, holding the lease, the parent's
/// next publish finds its process gone, breaks the lease and goes ahead; nothing is lost.
#[test]
fn a_dead_processs_writer_lease_is_broken_by_the_next_publisher() {
    let name = common::unique_name("lease");
    let fleet = Arc::new(Fleet::join_shm_as(&name, 256, 0).unwrap());
    let _c = Cleanup(fleet.clone());
    let ring = fleet.ring::<Leased>().unwrap();
    let mut child = spawn("lease", &name, 5, &[]);
    let lines = common::orbit_lines(&mut child);
    assert_eq!(
        lines.recv_timeout(Duration::from_secs(60)).unwrap(),
        "leased"
    );
    let refused = ring.publish_frame(0, 9, &payload(0, 9)).unwrap_err();
    assert!(
        matches!(
            refused,
            orbit_rs::Error::Publish(orbit_rs::PublishError::Leased)
        ),
        "{refused}"
    );
    assert!(
        ring.exclusive_writer().is_err(),
        "a live holder keeps its lease"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    ring.publish_frame(0, 3, &payload(0, 3))
        .expect("the dead holder's lease is broken");
    let mut writer = ring
        .exclusive_writer()
        .expect("and the lease is free again");
    writer.publish_frame(0, 4, &payload(0, 4)).unwrap();
    drop(writer);
    let mut cursor = orbit_rs::RingCursor::from_start();
    let poll = ring.poll_frames(&mut cursor);
    let got: Vec<_> = poll.frames.iter().map(|f| parse(&f.payload)).collect();
    assert_eq!(got, [(5, 0), (5, 1), (5, 2), (0, 3), (0, 4)]);
    assert_eq!(poll.loss.total(), 0);
}

/// Two writer processes, a lease writer process (exclusive bursts, handing the lease back in
/// between, resetting from it now and then) and two reader processes on the event ring while
/// this process resets it every few milliseconds: readers get no torn, stale (pre-reset) or duplicated frame, and
/// account for every counter they pass on every poll.
#[test]
fn resets_during_traffic_between_processes() {
    const PER_WRITER: u64 = 50_000;
    let name = common::unique_name("churn");
    let (fleet, bus) = join(&name, 0);
    let _c = Cleanup(fleet);
    let readers: Vec<Child> = (10..12)
        .map(|node| spawn("churn_poll", &name, node, &[]))
        .collect();
    let mut reports: Vec<_> = Vec::new();
    let mut readers = readers;
    for child in &mut readers {
        reports.push(common::orbit_lines(child));
    }
    let mut writers: Vec<Child> = (1..=2)
        .map(|node| {
            spawn(
                "churn_publish",
                &name,
                node,
                &[
                    ("ORBIT_COUNT", PER_WRITER.to_string()),
                    // `ORBIT_CHURN_MS` lengthens the run (the closing note ran 20 s).
                    (
                        "ORBIT_MIN_MS",
                        env::var("ORBIT_CHURN_MS").unwrap_or_else(|_| "1500".into()),
                    ),
                ],
            )
        })
        .collect();
    writers.push(spawn(
        "churn_lease",
        &name,
        3,
        &[
            ("ORBIT_COUNT", PER_WRITER.to_string()),
            (
                "ORBIT_MIN_MS",
                env::var("ORBIT_CHURN_MS").unwrap_or_else(|_| "1500".into()),
            ),
        ],
    ));
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut resets = 0u64;
    while !writers.is_empty() {
        assert!(Instant::now() < deadline, "writers timed out");
        // Refused while the lease writer holds the ring: it resets from its lease then.
        match bus.reset_ring() {
            Ok(()) => resets += 1,
            Err(orbit_rs::Error::Publish(orbit_rs::PublishError::Leased)) => {}
            Err(other) => panic!("reset: {other}"),
        }
        thread::sleep(Duration::from_millis(3));
        writers.retain_mut(|c| match c.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "writer failed: {status}");
                false
            }
            None => true,
        });
    }
    // Readers stop at a "stop" event; keep publishing it until both have seen one.
    while !readers.is_empty() {
        assert!(Instant::now() < deadline, "readers timed out");
        bus.publish("stop", b"").unwrap();
        thread::sleep(Duration::from_millis(10));
        readers.retain_mut(|c| match c.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "reader failed: {status}");
                false
            }
            None => true,
        });
    }
    for report in reports {
        let line = report
            .recv_timeout(Duration::from_secs(10))
            .expect("reader report");
        eprintln!("reader: {line} ({resets} resets during the load)");
        let delivered: u64 = line.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(delivered > 0);
    }
    assert!(resets > 10, "{resets} resets");
}

/// The same with the handles that keep their ring between calls: an exclusive `FleetWriter`
/// in another process and a `FleetRing` polled here. The unlink retires the segment both hold;
/// the writer's next publish reports its lease lost (it takes a new one on the fresh segment),
/// and this handle's next poll moves to the fresh segment, reports the rewind, and receives
/// the writer's later frames there.
#[test]
fn unlink_moves_a_kept_writer_and_a_kept_reader() {
    let name = common::unique_name("unlink-kept");
    let fleet = Arc::new(Fleet::join_shm_as(&name, 256, 0).expect("join"));
    let _c = Cleanup(fleet.clone());
    let ring = fleet.ring::<Steady>().expect("ring");
    let _writer = common::Reaped(spawn("steady_lease", &name, 1, &[]));
    let mut cursor = orbit_rs::RingCursor::from_start();
    let deadline = Instant::now() + Duration::from_secs(30);
    let poll_seqs = |cursor: &mut orbit_rs::RingCursor| {
        let mut seqs = Vec::new();
        let poll = ring.poll_with(cursor, |f| seqs.push(parse(f.payload)));
        (poll.rewound, seqs)
    };
    let mut before = None;
    while before.is_none() {
        assert!(Instant::now() < deadline, "no traffic before the unlink");
        before = poll_seqs(&mut cursor).1.last().map(|&(_, seq)| seq);
        thread::sleep(Duration::from_millis(1));
    }
    fleet.unlink().unwrap();
    let (mut rewound, mut moved) = (false, false);
    while !moved {
        assert!(
            Instant::now() < deadline,
            "the writer never reached the fresh segment: rewound {rewound}"
        );
        let (now_rewound, seqs) = poll_seqs(&mut cursor);
        rewound |= now_rewound;
        moved = rewound && seqs.iter().any(|&(w, seq)| w == 1 && Some(seq) > before);
        thread::sleep(Duration::from_millis(1));
    }
}

/// Two writer processes publish steadily while this process unlinks the fleet: the writers
/// notice the retired segment at their next publish and move to the fresh one, this reader's
/// cursor reports the move as a rewind, and frames of both writers published after the unlink
/// arrive in the fresh segment — nobody is left publishing into a ring nobody else sees.
#[test]
fn unlink_during_traffic_moves_every_member() {
    let name = common::unique_name("unlink");
    let (fleet, bus) = join(&name, 0);
    let _c = Cleanup(fleet.clone());
    let _writers: Vec<common::Reaped> = (1..=2)
        .map(|node| common::Reaped(spawn("steady_publish", &name, node, &[])))
        .collect();
    let mut cursor = OrbitEventCursor::from_start();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Traffic from both writers first.
    let mut newest = [None::<u64>; 3];
    while newest[1].is_none() || newest[2].is_none() {
        assert!(Instant::now() < deadline, "no traffic before the unlink");
        for event in bus.poll(&mut cursor).events {
            let (writer, seq) = parse(&event.payload);
            newest[usize::from(writer)] = Some(seq);
        }
        thread::sleep(Duration::from_millis(1));
    }
    let before = newest;
    let unlinked = Instant::now();
    fleet.unlink().unwrap();
    // Both writers' later frames arrive in the fresh segment.
    let (mut rewound, mut moved) = (false, [false; 3]);
    while !(moved[1] && moved[2]) {
        assert!(
            Instant::now() < deadline,
            "writers never reached the fresh segment: rewound {rewound}, moved {moved:?}"
        );
        let poll = bus.poll(&mut cursor);
        rewound |= poll.rewound;
        for event in poll.events {
            let (writer, seq) = parse(&event.payload);
            let w = usize::from(writer);
            if rewound && before[w].is_some_and(|old| seq > old) {
                moved[w] = true;
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    println!(
        "both writers publishing into the fresh segment {:?} after the unlink",
        unlinked.elapsed()
    );
    assert!(rewound);
}

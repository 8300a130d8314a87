//! The bridge between real processes over loopback: `orbit-bridge export` and `import` as
//! children, this test process publishing into the exporting fleet and reading the importing
//! one (both in shared memory, as on two hosts). Every wait is bounded; fleet names are
//! unique and removed at the end.

mod common;

use std::time::Duration;

use common::{
    Bridge, Link, Tally, TestFleet, align, field, free_port, link, read_until, unique_name,
    zenoh_config,
};
use orbit_rs::RingCursor;

const ORIGIN: u16 = 1;

fn export_args(fleet: &str, config: &std::path::Path, origin: u16, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["export", "--fleet", fleet, "--events", "--origin"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(origin.to_string());
    args.push("--zenoh-config".into());
    args.push(config.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn import_args(fleet: &str, from: &str, config: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["import", "--fleet", fleet, "--events", "--from", from]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push("--zenoh-config".into());
    args.push(config.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The `n` in each `seq` event's payload from origin `node`, in the order read.
fn seqs(tally: &Tally, node: u16) -> Vec<u64> {
    tally
        .events
        .iter()
        .filter(|(n, topic, _)| *n == node && topic == "seq")
        .map(|(_, _, p)| u64::from_le_bytes(p[..8].try_into().expect("8 bytes")))
        .collect()
}

fn strictly_increasing(v: &[u64]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

/// Reads B until `target` counters are accounted for (60 s at most), then 300 ms more, so a
/// counter accounted twice would show: every counter of A maps to exactly one of B. True if
/// the target was reached.
fn read_exactly(b: &TestFleet, cursor: &mut RingCursor, tally: &mut Tally, target: u64) -> bool {
    let complete = read_until(b, cursor, tally, Duration::from_secs(60), |t| {
        t.accounted() >= target
    });
    read_until(b, cursor, tally, Duration::from_millis(300), |_| false);
    complete
}

/// One bridge's setting: fleet A's name (exported), fleet B's (imported into) and the loopback
/// link's Zenoh configs, all named after `label`.
struct Scene {
    a_name: String,
    b_name: String,
    link: Link,
}

impl Scene {
    fn new(label: &str) -> Self {
        Self {
            a_name: unique_name(&format!("{label}-a")),
            b_name: unique_name(&format!("{label}-b")),
            link: link(label),
        }
    }

    /// `orbit-bridge import` of A's events into B, ready.
    fn importer(&self, extra: &[&str]) -> Bridge {
        let args = import_args(&self.b_name, &self.a_name, &self.link.importer, extra);
        Bridge::ready(&args, "import")
    }

    /// `orbit-bridge export` of A's events as origin `ORIGIN`, ready.
    fn exporter(&self) -> Bridge {
        Bridge::ready(
            &export_args(&self.a_name, &self.link.exporter, ORIGIN, &[]),
            "export",
        )
    }
}

/// Fleet A's events arrive on fleet B, in order; frames lost on A (loss markers there, which
/// the exporter reads as unavailable) arrive as counted loss; the sum is exact.
#[test]
fn events_arrive_in_order_with_exact_loss() {
    let scene = Scene::new("order");
    let a = TestFleet::join_default(&scene.a_name, 0);
    let b = TestFleet::join_default(&scene.b_name, 0);
    let mut importer = scene.importer(&[]);
    let mut exporter = scene.exporter();

    let mut cursor = RingCursor::from_start();
    align(&a, &b, ORIGIN, &mut cursor);
    let start = a.ring.head();
    let (n, lost_every, lost_each) = (2000u64, 100u64, 3u32);
    let mut tally = Tally::default();
    for i in 0..n {
        a.bus.publish("seq", &i.to_le_bytes()).expect("publish");
        if i % lost_every == lost_every - 1 {
            a.bus.publish_lost(lost_each).expect("markers");
        }
        if i % 64 == 63 {
            // Pace: let the bridge and B's reader catch up (this test is about order and
            // exactness, not overruns; the flood test below is about those).
            let sent = a.ring.head() - start;
            read_until(&b, &mut cursor, &mut tally, Duration::from_secs(30), |t| {
                t.accounted() >= sent
            });
        }
    }
    let published = a.ring.head() - start;
    let lost = n / lost_every * u64::from(lost_each);
    assert_eq!(published, n + lost);
    let complete = read_exactly(&b, &mut cursor, &mut tally, published);
    let stats = importer.interrupt("import stats");
    let export_stats = exporter.interrupt("export stats");
    println!("B saw {tally:?}\nimporter: {stats}\nexporter: {export_stats}");
    assert!(
        complete,
        "B accounted for {} of {published}",
        tally.accounted()
    );
    assert_eq!(tally.accounted(), published, "exact end to end");
    let got = seqs(&tally, ORIGIN);
    assert!(strictly_increasing(&got), "order kept, nothing twice");
    assert_eq!(
        got.len() as u64 + tally.overwritten + tally.unavailable,
        n + lost
    );
    // A's loss reached B as counted loss (the exporter read A's markers as unavailable).
    assert_eq!(field(&stats, "upstream_unavailable"), lost);
    // What B's reader did not see is exactly what the stats say was lost on the way.
    assert_eq!(
        n - got.len() as u64,
        tally.overwritten + tally.unavailable - lost,
        "every missing seq event is counted"
    );
    assert_eq!(field(&stats, "malformed"), 0);
    // Paced, nothing else was lost: B's loss is exactly A's markers.
    assert_eq!(tally.overwritten, 0);
    assert_eq!(
        tally.unavailable,
        lost + field(&stats, "network_lost") + field(&stats, "upstream_overwritten")
    );
}

/// A flood that overruns the importer's (small) ring is counted by B's reader as overwritten,
/// never hidden: delivered + lost == published on A, exactly.
#[test]
fn a_flood_that_overruns_the_importer_is_counted() {
    let scene = Scene::new("flood");
    let a = TestFleet::join_default(&scene.a_name, 0);
    let b = TestFleet::join(&scene.b_name, 0, 64);
    let mut importer = scene.importer(&["--capacity", "64"]);
    let mut exporter = scene.exporter();

    let mut cursor = RingCursor::from_start();
    align(&a, &b, ORIGIN, &mut cursor);
    let start = a.ring.head();
    let n = 20_000u64;
    for i in 0..n {
        a.bus.publish("seq", &i.to_le_bytes()).expect("publish");
    }
    // B's reader reads only once the importer has republished (or marked) every counter.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let b_start = cursor.next_counter();
    while b.ring.head() - b_start < n && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut tally = Tally::default();
    read_until(&b, &mut cursor, &mut tally, Duration::ZERO, |_| true);
    let stats = importer.interrupt("import stats");
    let export_stats = exporter.interrupt("export stats");
    println!(
        "B saw {} events, overwritten {}, unavailable {}\nimporter: {stats}\nexporter: {export_stats}",
        tally.events.len(),
        tally.overwritten,
        tally.unavailable
    );
    assert_eq!(a.ring.head() - start, n);
    assert_eq!(tally.accounted(), n, "exact end to end");
    assert!(
        tally.overwritten > 0,
        "B's 64-slot ring was overrun: counted"
    );
    assert!(tally.events.len() <= 64);
    assert!(strictly_increasing(&seqs(&tally, ORIGIN)));
    // The importer's own account adds up too: frames + every kind of upstream loss.
    let counters = field(&stats, "frames")
        + field(&stats, "upstream_overwritten")
        + field(&stats, "upstream_unavailable")
        + field(&stats, "network_lost");
    assert!(
        counters >= n,
        "the importer accounted for {counters} counters"
    );
}

/// Killing and restarting the importer, then the exporter: the stream resumes each time
/// (Zenoh reconnects), nothing is ever duplicated, and what is sent after each restart
/// arrives with exact accounting.
#[test]
fn killing_and_restarting_either_side() {
    let scene = Scene::new("restart");
    let a = TestFleet::join_default(&scene.a_name, 0);
    let b = TestFleet::join_default(&scene.b_name, 0);
    let spawn_importer = || scene.importer(&[]);
    let spawn_exporter = || scene.exporter();
    let mut importer = spawn_importer();
    let mut exporter = spawn_exporter();
    let mut run = Run {
        cursor: RingCursor::from_start(),
        all: Tally::default(),
        next: 0,
    };
    run.round(&a, &b, "first run");

    // The importer dies (SIGKILL) and comes back on the same port: the exporter's Zenoh
    // session reconnects. Events published while it is down are lost, uncounted (documented).
    importer.kill();
    run.publish(&a, 50);
    let mut importer = spawn_importer();
    run.round(&a, &b, "after the importer restarted");

    // The exporter dies and a new one starts: a new session, starting at A's head.
    exporter.kill();
    run.publish(&a, 50);
    let mut exporter = spawn_exporter();
    run.round(&a, &b, "after the exporter restarted");

    let stats = importer.interrupt("import stats");
    exporter.interrupt("export stats");
    // Two exporter sessions met by the second importer.
    assert_eq!(field(&stats, "streams"), 2, "{stats}");
    let got = seqs(&run.all, ORIGIN);
    assert!(
        strictly_increasing(&got),
        "nothing replayed or duplicated across restarts"
    );
    assert_eq!(got.len(), 600, "every event of the three rounds arrived");
}

/// The restart test's reader and publisher.
struct Run {
    cursor: RingCursor,
    all: Tally,
    next: u64,
}

impl Run {
    fn publish(&mut self, a: &TestFleet, count: u64) {
        for _ in 0..count {
            a.bus
                .publish("seq", &self.next.to_le_bytes())
                .expect("publish");
            self.next += 1;
        }
    }

    /// Aligns, publishes 200 events and checks they all arrive, exactly.
    fn round(&mut self, a: &TestFleet, b: &TestFleet, label: &str) {
        align(a, b, ORIGIN, &mut self.cursor);
        let start = a.ring.head();
        self.publish(a, 200);
        let published = a.ring.head() - start;
        let mut tally = Tally::default();
        let complete = read_until(
            b,
            &mut self.cursor,
            &mut tally,
            Duration::from_secs(60),
            |t| t.accounted() >= published,
        );
        read_until(
            b,
            &mut self.cursor,
            &mut tally,
            Duration::from_millis(200),
            |_| false,
        );
        assert!(
            complete,
            "{label}: B accounted for {} of {published}",
            tally.accounted()
        );
        assert_eq!(tally.accounted(), published, "{label}: exact");
        self.all.events.extend(tally.events);
    }
}

/// Two exporters (two "hosts": fleets A1 and A2, origins 1 and 2) into one importer on one
/// key expression: B's readers tell them apart by node, each stream in order and complete.
#[test]
fn two_exporters_into_one_importer_keep_their_origins_apart() {
    let names = [unique_name("two-a1"), unique_name("two-a2")];
    let b_name = unique_name("two-b");
    let a = [
        TestFleet::join_default(&names[0], 0),
        TestFleet::join_default(&names[1], 0),
    ];
    let b = TestFleet::join_default(&b_name, 0);
    let key = format!("orbit/{}/events", unique_name("plant"));
    let port = free_port();
    let imp_cfg = zenoh_config("two-imp", Some(port), &[]);
    let mut importer = Bridge::ready(
        &import_args(&b_name, "-", &imp_cfg, &["--key", &key]),
        "import",
    );
    let mut exporters: Vec<Bridge> = (0..2)
        .map(|h| {
            let cfg = zenoh_config(&format!("two-exp{h}"), None, &[port]);
            let origin = h as u16 + 1;
            Bridge::ready(
                &export_args(&names[h], &cfg, origin, &["--key", &key]),
                "export",
            )
        })
        .collect();
    let mut cursor = RingCursor::from_start();
    align(&a[0], &b, 1, &mut cursor);
    align(&a[1], &b, 2, &mut cursor);
    let n = 500u64;
    let mut tally = Tally::default();
    for i in 0..n {
        for (h, fleet) in a.iter().enumerate() {
            // Each host's payload names its host: B must find it under that host's node.
            let mut payload = i.to_le_bytes().to_vec();
            payload.push(h as u8 + 1);
            fleet.bus.publish("seq", &payload).expect("publish");
        }
        if i % 64 == 63 {
            read_until(&b, &mut cursor, &mut tally, Duration::ZERO, |_| true);
        }
    }
    let complete = read_exactly(&b, &mut cursor, &mut tally, 2 * n);
    let stats = importer.interrupt("import stats");
    for e in &mut exporters {
        e.interrupt("export stats");
    }
    println!("importer: {stats}");
    assert!(
        complete,
        "B accounted for {} of {}",
        tally.accounted(),
        2 * n
    );
    assert_eq!(tally.accounted(), 2 * n, "exact");
    for node in [1u16, 2] {
        let events: Vec<_> = tally.events.iter().filter(|(n, _, _)| *n == node).collect();
        assert!(
            events
                .iter()
                .all(|(_, _, p)| p.len() == 9 && p[8] == node as u8),
            "node {node} carries only its own host's events"
        );
        let got = seqs(&tally, node);
        assert!(strictly_increasing(&got), "node {node}: in order");
    }
    let delivered = seqs(&tally, 1).len() + seqs(&tally, 2).len();
    assert_eq!(
        delivered,
        tally.events.len(),
        "only seq events after alignment"
    );
    assert_eq!(
        delivered as u64 + tally.overwritten + tally.unavailable,
        2 * n
    );
    assert_eq!(field(&stats, "streams"), 2);
    // Per origin: one stream each, and between them every frame the importer republished.
    let per_origin: Vec<&String> = importer
        .seen
        .iter()
        .filter(|l| l.contains("origin=") && l.contains("import stats"))
        .collect();
    assert_eq!(per_origin.len(), 2, "{per_origin:?}");
    assert!(per_origin.iter().all(|l| field(l, "streams") == 1));
    let frames: u64 = per_origin.iter().map(|l| field(l, "frames")).sum();
    assert_eq!(frames, field(&stats, "frames"));
}

/// A typed ring (`--kind`, its capacity and payload class given), and a reset of the exported
/// ring mid-stream: frames keep their kind byte, version word and payload; the reset starts a
/// new epoch (counted in the stats, nothing counted as lost), and the stream goes on.
#[test]
fn a_typed_ring_and_a_reset_of_the_exported_ring() {
    use common::Raw;
    let (a_name, b_name) = (unique_name("typed-a"), unique_name("typed-b"));
    let join = |name: &str| {
        let fleet = std::sync::Arc::new(orbit_rs::Fleet::join_shm_as(name, 256, 0).expect("join"));
        let names = common::RemoveNames(fleet.clone());
        let ring = fleet.ring_by_kind::<Raw>(42, 64, 32).expect("ring");
        (names, ring)
    };
    let (_a_names, a) = join(&a_name);
    let (_b_names, b) = join(&b_name);
    let Link {
        importer: imp_cfg,
        exporter: exp_cfg,
        ..
    } = link("typed");
    let ring_args = ["--kind", "42", "--capacity", "64", "--payload", "32"];
    let mut importer = Bridge::ready(
        &{
            let mut args = import_args(&b_name, &a_name, &imp_cfg, &ring_args);
            args.retain(|a| a != "--events");
            args
        },
        "import",
    );
    let mut exporter = Bridge::ready(
        &{
            let mut args = export_args(&a_name, &exp_cfg, ORIGIN, &ring_args);
            args.retain(|a| a != "--events");
            args
        },
        "export",
    );

    // Until the route is up: frames of kind 1 (warm-up) until one arrives.
    let mut cursor = RingCursor::from_start();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the bridge never carried a frame"
        );
        a.publish_frame(1, 0, b"warm").expect("publish");
        let _ = b.wait(&cursor, Duration::from_millis(200));
        if !b.poll_frames(&mut cursor).frames.is_empty() {
            break;
        }
    }
    let _ = b.wait(&cursor, Duration::from_millis(300));
    let _ = b.poll_frames(&mut cursor); // Late warm-ups.

    let mut got = Vec::new();
    let mut lost = 0;
    let mut publish_and_read = |range: std::ops::Range<u64>| {
        for i in range.clone() {
            a.publish_frame(7, 1000 + i, &i.to_le_bytes())
                .expect("publish");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while got.len() as u64 + lost < range.end && std::time::Instant::now() < deadline {
            let _ = b.wait(&cursor, Duration::from_millis(200));
            let poll = b.poll_frames(&mut cursor);
            lost += poll.loss.total();
            for f in poll.frames {
                assert_eq!((f.kind, f.id.node().get(), f.id.kind()), (7, ORIGIN, 42));
                let i = u64::from_le_bytes(f.payload[..].try_into().expect("8 bytes"));
                assert_eq!(f.version, 1000 + i, "the version word crossed unchanged");
                got.push(i);
            }
        }
    };
    publish_and_read(0..40);
    a.reset().expect("reset A's ring");
    publish_and_read(40..80);
    let stats = importer.interrupt("import stats");
    let export_stats = exporter.interrupt("export stats");
    println!("importer: {stats}\nexporter: {export_stats}");
    assert_eq!(got, (0..80).collect::<Vec<_>>());
    assert_eq!(lost, 0);
    assert_eq!(field(&export_stats, "resets"), 1);
    assert_eq!(field(&stats, "resets"), 1);
    assert_eq!(field(&stats, "network_lost"), 0);
}

//! Bridged one-way latency and throughput (64-byte frames) against raw Zenoh pub/sub between
//! the same two processes, in the same run.
//!
//! `cargo bench -p orbit-bridge --bench bridge` starts this binary twice over loopback
//! (127.0.0.1, peer mode, no scouting): the *sender* process publishes into fleet A's ring
//! (an exporter thread carries it) and puts raw Zenoh samples; the *receiver* process runs an
//! importer into fleet B and a reader that waits on B's ring, and a raw Zenoh subscriber (the
//! default FIFO handler, as the importer uses). Both paths share one Zenoh session per process.
//!
//! * Latency: 64-byte frames paced 200 µs apart; each carries its sender's wall clock
//!   (one host: one clock), the receiver subtracts it on receipt. p50 / p99 over 5000
//!   frames per path, sent in turns raw, bridge, bridge, raw (2500 each).
//! * Throughput: the sender offers frames in chunks of 256 with a 50 µs sleep between chunks
//!   (several million frames a second, more than either path carries) for 2 s per turn, in
//!   the same turns; the receiver counts what arrives and divides by the time from the first
//!   frame's send to the last frame's receipt; the table gives the mean of a path's two
//!   turns, and the sums of frames delivered and offered. Both Zenoh publishers block when the network is full (the bridge's
//!   default): the raw sender then slows down to what Zenoh carries, while the fleet publisher
//!   never waits — its ring overwrites what the exporter cannot carry, which the exporter
//!   counts (printed below the table), so "delivered / offered" differs by design.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orbit_bridge::{Backing, Exporter, Frames, Importer, RingSource};
use orbit_rs::{Fleet, FleetRing, Waited};
use zenoh::Wait;
use zenoh::qos::CongestionControl;

const ROLE: &str = "ORBIT_BRIDGE_BENCH_ROLE";
const FRAME: usize = 64;
const SOURCE: RingSource = RingSource::Kind {
    kind: 60,
    capacity: 4096,
    payload: FRAME,
};
const LATENCY_FRAMES: u64 = 5000;
const LATENCY_GAP: Duration = Duration::from_micros(200);
const FLOOD_TIME: Duration = Duration::from_secs(2);
const FLOOD_CHUNK: u64 = 256;
const FLOOD_PAUSE: Duration = Duration::from_micros(50);

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A 64-byte frame: sequence number, send time, filler.
fn frame(seq: u64) -> [u8; FRAME] {
    let mut f = [0xA5; FRAME];
    f[..8].copy_from_slice(&seq.to_le_bytes());
    f[8..16].copy_from_slice(&now_ns().to_le_bytes());
    f
}

fn config(listen: Option<u16>, connect: Option<u16>) -> zenoh::Config {
    let text = format!(
        r#"{{ mode: "peer",
             listen: {{ endpoints: ["tcp/127.0.0.1:{}"] }},
             connect: {{ endpoints: [{}] }},
             scouting: {{ multicast: {{ enabled: false }}, gossip: {{ enabled: false }} }} }}"#,
        listen.unwrap_or(0),
        connect.map_or(String::new(), |p| format!("\"tcp/127.0.0.1:{p}\""))
    );
    zenoh::Config::from_json5(&text).expect("a valid zenoh config")
}

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("receiver") => receiver(),
        _ => sender(),
    }
}

/// What one path received since the last report.
#[derive(Default)]
struct Acc {
    latencies_ns: Vec<u64>,
    first_sent: Option<u64>,
    last_received: u64,
}

impl Acc {
    fn record(&mut self, payload: &[u8]) {
        let now = now_ns();
        let Some(sent) = payload.get(8..16) else {
            return;
        };
        let sent = u64::from_le_bytes(sent.try_into().unwrap_or([0; 8]));
        self.latencies_ns.push(now.saturating_sub(sent));
        self.first_sent.get_or_insert(sent);
        self.last_received = now;
    }

    /// `n p50_ns p99_ns rate_per_s`, and clears.
    fn report(&mut self) -> String {
        let mut l = std::mem::take(&mut self.latencies_ns);
        l.sort_unstable();
        let pct = |p: f64| {
            l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        let span = self
            .last_received
            .saturating_sub(self.first_sent.take().unwrap_or(0))
            .max(1);
        let rate = l.len() as f64 / (span as f64 / 1e9);
        format!("{} {} {} {:.0}", l.len(), pct(0.50), pct(0.99), rate)
    }
}

fn receiver() {
    let args: Vec<String> = std::env::args().collect();
    let (port, b_name) = (args[1].parse::<u16>().expect("port"), args[2].clone());
    let session = zenoh::open(config(Some(port), None)).wait().expect("zenoh");
    let stop = Arc::new(AtomicBool::new(false));
    let raw = Arc::new(Mutex::new(Acc::default()));
    let bridged = Arc::new(Mutex::new(Acc::default()));
    let seen = Arc::new(Mutex::new((false, false)));

    let fleet = Arc::new(Fleet::join_shm_as(&b_name, 256, 0).expect("join B"));
    let ring: FleetRing<Frames> = SOURCE.open(&fleet).expect("B's ring");
    let importer = {
        let (session, stop) = (session.clone(), stop.clone());
        let b_name = b_name.clone();
        std::thread::spawn(move || {
            let mut importer = Importer::new(&b_name, 256, Backing::SharedMemory, SOURCE);
            importer
                .run(&session, "bench/bridge", &stop, |_| {})
                .expect("importer");
        })
    };
    let reader = {
        let (ring, stop, acc, seen) = (ring.clone(), stop.clone(), bridged.clone(), seen.clone());
        std::thread::spawn(move || {
            let mut cursor = ring.cursor_at_head();
            while !stop.load(Ordering::Relaxed) {
                if ring.wait(&cursor, Duration::from_millis(100)) == Waited::TimedOut {
                    continue;
                }
                let mut acc = acc.lock().unwrap();
                ring.poll_with(&mut cursor, |f| acc.record(f.payload));
                seen.lock().unwrap().1 = true;
            }
        })
    };
    let subscriber = session
        .declare_subscriber("bench/raw")
        .wait()
        .expect("subscriber");
    let raw_reader = {
        let (stop, acc, seen) = (stop.clone(), raw.clone(), seen.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(Some(sample)) = subscriber.recv_timeout(Duration::from_millis(100)) {
                    acc.lock().unwrap().record(&sample.payload().to_bytes());
                    seen.lock().unwrap().0 = true;
                }
            }
        })
    };
    println!("READY");
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let reply = match line.as_str() {
            "seen" => {
                let (r, b) = *seen.lock().unwrap();
                format!("SEEN {r} {b}")
            }
            "report raw" => format!("RESULT {}", raw.lock().unwrap().report()),
            "report bridge" => format!("RESULT {}", bridged.lock().unwrap().report()),
            _ => break,
        };
        println!("{reply}");
        let _ = std::io::stdout().flush();
    }
    stop.store(true, Ordering::Relaxed);
    let _ = (importer.join(), reader.join(), raw_reader.join());
    let _ = fleet.remove_names();
    let _ = session.close().wait();
}

/// The receiver child, spoken to over its stdin / stdout.
struct Receiver {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Receiver {
    fn ask(&mut self, command: &str) -> String {
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        writeln!(stdin, "{command}").expect("write to the receiver");
        stdin.flush().expect("flush");
        match self.lines.next() {
            Some(Ok(line)) => line,
            other => panic!(
                "the receiver did not answer {command:?} ({other:?}): {:?}",
                self.child.wait()
            ),
        }
    }

    /// (n, p50 ns, p99 ns, frames per second) since the last report of `path`.
    fn report(&mut self, path: &str) -> (u64, u64, u64, f64) {
        let line = self.ask(&format!("report {path}"));
        let f: Vec<&str> = line.split_whitespace().skip(1).collect();
        (
            f[0].parse().unwrap(),
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
        )
    }
}

fn sender() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let a_name = format!("bench-a-{}", std::process::id());
    let b_name = format!("bench-b-{}", std::process::id());
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .args([port.to_string(), b_name.clone()])
        .env(ROLE, "receiver")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the receiver");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut rx = Receiver {
        child,
        lines: std::io::BufReader::new(stdout).lines(),
    };
    assert_eq!(rx.lines.next().expect("a line").expect("READY"), "READY");

    let session = zenoh::open(config(None, Some(port))).wait().expect("zenoh");
    let publisher = session
        .declare_publisher("bench/raw")
        .congestion_control(CongestionControl::Block)
        .wait()
        .expect("publisher");
    let fleet = Arc::new(Fleet::join_shm_as(&a_name, 256, 0).expect("join A"));
    let ring: FleetRing<Frames> = SOURCE.open(&fleet).expect("A's ring");
    let stop = Arc::new(AtomicBool::new(false));
    let exporter = {
        let exporter = Exporter::new(fleet.clone(), SOURCE, 1).expect("exporter");
        orbit_bridge::export::spawn(
            exporter,
            session.clone(),
            "bench/bridge".to_string(),
            stop.clone(),
        )
    };

    // Both routes up: publish on both until the receiver has seen each.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the routes never came up");
        publisher.put(frame(0).to_vec()).wait().expect("put");
        ring.publish_frame(0, 0, &frame(0)).expect("publish");
        std::thread::sleep(Duration::from_millis(20));
        if rx.ask("seen") == "SEEN true true" {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    rx.report("raw");
    rx.report("bridge");

    // Both paths take turns, in the order raw, bridge, bridge, raw, so that neither always
    // runs first (or last) after the warm-up.
    let raw_send = |seq: u64| {
        let _ = publisher.put(frame(seq).to_vec()).wait();
    };
    let bridge_send = |seq: u64| {
        let _ = ring.publish_frame(0, 0, &frame(seq));
    };
    let turns: [(&str, &dyn Fn(u64)); 4] = [
        ("raw", &raw_send),
        ("bridge", &bridge_send),
        ("bridge", &bridge_send),
        ("raw", &raw_send),
    ];

    // Latency, paced: the receiver accumulates both turns of a path until it reports.
    for (_, send) in &turns {
        for seq in 0..LATENCY_FRAMES / 2 {
            send(seq);
            let until = Instant::now() + LATENCY_GAP;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let raw_lat = rx.report("raw");
    let bridge_lat = rx.report("bridge");

    // Throughput, flooded for FLOOD_TIME per turn; each turn reported on its own.
    let mut thr = std::collections::HashMap::<&str, (u64, f64, u64)>::new();
    for (path, send) in &turns {
        let end = Instant::now() + FLOOD_TIME;
        let mut seq = 0u64;
        while Instant::now() < end {
            for _ in 0..FLOOD_CHUNK {
                send(seq);
                seq += 1;
            }
            // Leave the cores to the paths under test (two cores: a sender that never
            // sleeps would starve the exporter, not measure it). Same for both paths.
            std::thread::sleep(FLOOD_PAUSE);
        }
        std::thread::sleep(Duration::from_millis(500));
        let (n, _, _, rate) = rx.report(path);
        let t = thr.entry(path).or_default();
        *t = (t.0 + n, t.1 + rate / 2.0, t.2 + seq);
    }
    let (raw_thr, bridge_thr) = (thr["raw"], thr["bridge"]);

    stop.store(true, Ordering::Relaxed);
    let export_stats = exporter.join().expect("exporter thread").expect("exporter");
    if let Some(stdin) = rx.child.stdin.as_mut() {
        let _ = writeln!(stdin, "quit");
    }
    let _ = rx.child.wait();
    let _ = fleet.remove_names();
    let _ = session.close().wait();

    let us = |ns: u64| ns as f64 / 1000.0;
    println!("orbit-bridge bench: 64-byte frames, loopback, two processes, one run");
    println!();
    println!(
        "| path | one-way p50 | one-way p99 | frames | throughput (frames/s) | delivered / offered |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| raw Zenoh pub/sub | {:.1} µs | {:.1} µs | {} | {:.0} | {} / {} |",
        us(raw_lat.1),
        us(raw_lat.2),
        raw_lat.0,
        raw_thr.1,
        raw_thr.0,
        raw_thr.2
    );
    println!(
        "| orbit-bridge (ring A → exporter → Zenoh → importer → ring B → reader) | {:.1} µs | {:.1} µs | {} | {:.0} | {} / {} |",
        us(bridge_lat.1),
        us(bridge_lat.2),
        bridge_lat.0,
        bridge_thr.1,
        bridge_thr.0,
        bridge_thr.2
    );
    println!();
    println!(
        "bridge / raw: p50 latency {:+.0} %, p99 latency {:+.0} %, throughput {:.0} %",
        (bridge_lat.1 as f64 / raw_lat.1.max(1) as f64 - 1.0) * 100.0,
        (bridge_lat.2 as f64 / raw_lat.2.max(1) as f64 - 1.0) * 100.0,
        bridge_thr.1 / raw_thr.1.max(1.0) * 100.0
    );
    println!(
        "exporter: {} frames in {} batches, {} overwritten on ring A (the flood lapped it), {} unavailable",
        export_stats.frames,
        export_stats.batches,
        export_stats.overwritten,
        export_stats.unavailable
    );
}

//! Cross-process one-way latency: ping-pong between two processes pinned to different cores,
//! one-way = round trip / 2, percentiles from an HDR histogram.
//!
//! Transports, measured in the same run:
//! * `orbit`: two shared-memory fleet rings (ping, pong) of 64-byte frames, each written by its
//!   one process through an exclusive writer (`FleetRing::exclusive_writer`), busy-polled;
//! * `orbit core`: the same rings through the core API (`FleetRing::ring`, a core
//!   `ExclusiveWriter` and `Cursor`), to split orbit's cost between the ring and the fleet layer;
//! * both of those twice: with the bench's 64-slot rings (`Ping`/`Pong`), and with one-slot
//!   rings (`Ping1`/`Pong1`, the least the ping-pong needs), which reuse one slot's lines per
//!   direction as the floor does;
//! * `floor`: a minimal single-writer seqlock slot per direction in a shared-memory object
//!   (odd seq, release fence, relaxed word stores, even seq) — the hardware limit;
//! * `uds`: a Unix domain stream socket, non-blocking, busy-polled.
//!
//! `cargo bench --manifest-path benches/suite/Cargo.toml --bench xproc` (`ORBIT_XPROC_ITERS` sets
//! the round trips, 200 000 by default, split over `ORBIT_XPROC_ROUNDS` rounds, 5 by default,
//! that interleave the transports with fresh processes each).
#![allow(clippy::disallowed_types)] // The floor uses std atomics directly.

mod common;

use std::env;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::Instant;

use hdrhistogram::Histogram;
use orbit_rs::{
    Cursor, ExclusiveWriter, Fleet, FleetRing, FleetWriter, OrbitTyped, Ring, RingCursor,
};

const CHILD: &str = "ORBIT_XPROC_CHILD";
const NAME: &str = "ORBIT_XPROC_NAME";
const STOP: u64 = u64::MAX;
const WORDS: usize = 8; // 64-byte messages

/// 64-byte messages each way: `PAYLOAD` 64 gives the rings 128-byte slots (the floor's too).
/// 64 slots: a window a real consumer might declare (the trait's default is 256), so each
/// message lands on lines the ring has not touched for 64 messages.
struct Ping;
impl OrbitTyped for Ping {
    const KIND: u8 = 70;
    const CAPACITY: usize = 64;
    const PAYLOAD: usize = 64;
}
struct Pong;
impl OrbitTyped for Pong {
    const KIND: u8 = 71;
    const CAPACITY: usize = 64;
    const PAYLOAD: usize = 64;
}

/// The same messages in rings of one slot, the least the ping-pong needs (one message in
/// flight each way; `check_capacity` takes any power of two from 1): every message reuses one
/// slot's lines, as the floor does — the like-for-like comparison with it.
struct Ping1;
impl OrbitTyped for Ping1 {
    const KIND: u8 = 72;
    const CAPACITY: usize = 1;
    const PAYLOAD: usize = 64;
}
struct Pong1;
impl OrbitTyped for Pong1 {
    const KIND: u8 = 73;
    const CAPACITY: usize = 1;
    const PAYLOAD: usize = 64;
}

fn message(seq: u64) -> [u8; 64] {
    let mut m = [0xA5u8; 64];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

fn seq_of(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

/// One transport's two ends.
trait Transport {
    fn send(&mut self, seq: u64);
    /// Busy-waits for the next message and returns its sequence number.
    fn recv(&mut self) -> u64;
    /// Called once the child has echoed a first message (so it has attached): remove shared
    /// names now, so nothing is left behind even if the run is killed.
    fn attached(&mut self) {}
}

// ---- orbit ------------------------------------------------------------------------------

struct Orbit<P: OrbitTyped, Q: OrbitTyped> {
    fleet: Arc<Fleet>,
    tx_ping: Option<FleetWriter<P>>,
    tx_pong: Option<FleetWriter<Q>>,
    rx_ping: Option<(FleetRing<P>, RingCursor)>,
    rx_pong: Option<(FleetRing<Q>, RingCursor)>,
}

impl<P: OrbitTyped, Q: OrbitTyped> Orbit<P, Q> {
    fn join(name: &str, parent: bool) -> Self {
        let fleet = Arc::new(Fleet::join_shm_as(name, 2, u16::from(!parent)).expect("join"));
        let ping = fleet.ring::<P>().expect("ping ring");
        let pong = fleet.ring::<Q>().expect("pong ring");
        // Each direction has one writer: it holds the ring's exclusive writer lease.
        if parent {
            Self {
                tx_ping: Some(ping.exclusive_writer().expect("ping lease")),
                rx_pong: Some((pong, RingCursor::from_start())),
                tx_pong: None,
                rx_ping: None,
                fleet,
            }
        } else {
            Self {
                tx_pong: Some(pong.exclusive_writer().expect("pong lease")),
                rx_ping: Some((ping, RingCursor::from_start())),
                tx_ping: None,
                rx_pong: None,
                fleet,
            }
        }
    }
}

impl<P: OrbitTyped, Q: OrbitTyped> Transport for Orbit<P, Q> {
    fn attached(&mut self) {
        // Only the names (`Fleet::unlink` would retire the rings: both processes would move
        // to fresh segments and lose their writer leases mid-run).
        self.fleet.remove_names().expect("remove the fleet's names");
    }

    fn send(&mut self, seq: u64) {
        let m = message(seq);
        match (&mut self.tx_ping, &mut self.tx_pong) {
            (Some(writer), _) => writer.publish_frame(0, seq, &m).map(drop),
            (_, Some(writer)) => writer.publish_frame(0, seq, &m).map(drop),
            _ => unreachable!(),
        }
        .expect("publish");
    }

    fn recv(&mut self) -> u64 {
        let mut got = None;
        while got.is_none() {
            let poll = match (&mut self.rx_ping, &mut self.rx_pong) {
                (Some((ring, cursor)), _) => {
                    ring.poll_with(cursor, |f| got = Some(seq_of(f.payload)))
                }
                (_, Some((ring, cursor))) => {
                    ring.poll_with(cursor, |f| got = Some(seq_of(f.payload)))
                }
                _ => unreachable!(),
            };
            assert_eq!(poll.loss.total(), 0, "ping-pong never laps the ring");
            // Pause only after a poll that found nothing, as the floor does: a pause after the
            // poll that delivered would delay every echo.
            if got.is_none() {
                std::hint::spin_loop();
            }
        }
        got.unwrap_or(0)
    }
}

// ---- orbit core: the same fleet rings through the core API ------------------------------

/// The fleet's rings through [`FleetRing::ring`]: the core `Ring` over the same segment, a core
/// `ExclusiveWriter`, a core `Cursor` — the ring protocol without the fleet layer's per-call
/// work (class dispatch, the segment view and its retirement check, the retry policy, the
/// deadline bookkeeping), so the table splits what orbit adds over the floor between the two.
struct OrbitCore {
    tx: ExclusiveWriter<'static, CLASS>,
    rx: Ring<'static, CLASS>,
    cursor: Cursor,
    fleet: Arc<Fleet>,
}

/// The slot class `Ping`/`Pong` (`PAYLOAD` 64) get.
const CLASS: usize = 96;

impl OrbitCore {
    /// The rings of `P` (ping) and `Q` (pong).
    fn join<P: OrbitTyped + 'static, Q: OrbitTyped + 'static>(name: &str, parent: bool) -> Self {
        let fleet = Arc::new(Fleet::join_shm_as(name, 2, u16::from(!parent)).expect("join"));
        // Leaked, so the core handles can borrow them for the rest of the process: one pair
        // per round, a few hundred bytes (their segments stay mapped until the bench exits).
        let ping: &'static FleetRing<P> =
            Box::leak(Box::new(fleet.ring::<P>().expect("ping ring")));
        let pong: &'static FleetRing<Q> =
            Box::leak(Box::new(fleet.ring::<Q>().expect("pong ring")));
        let ping = ping.ring::<CLASS>().expect("ping core ring");
        let pong = pong.ring::<CLASS>().expect("pong core ring");
        let (tx, rx) = if parent { (ping, pong) } else { (pong, ping) };
        Self {
            tx: tx.exclusive_writer().expect("lease"),
            rx,
            cursor: Cursor::from_start(),
            fleet,
        }
    }
}

impl Transport for OrbitCore {
    fn attached(&mut self) {
        self.fleet.remove_names().expect("remove the fleet's names");
    }

    fn send(&mut self, seq: u64) {
        self.tx.publish(0, seq, &message(seq)).expect("publish");
    }

    fn recv(&mut self) -> u64 {
        let mut got = None;
        while got.is_none() {
            let poll = self
                .rx
                .poll(&mut self.cursor, |f| got = Some(seq_of(f.payload)));
            assert_eq!(poll.loss.total(), 0, "ping-pong never laps the ring");
            if got.is_none() {
                std::hint::spin_loop();
            }
        }
        got.unwrap_or(0)
    }
}

// ---- floor: one seqlock slot per direction in a shared-memory object --------------------

#[repr(C, align(64))]
struct FloorSlot {
    seq: AtomicU64,
    words: [AtomicU64; WORDS],
}

struct Floor {
    name: String,
    map: memmap2::MmapRaw,
    tx: usize,
    sent: u64,
    received: u64,
}

impl Floor {
    fn open(name: &str, parent: bool) -> Self {
        use rustix::fs::Mode;
        use rustix::shm;
        let flags = if parent {
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR
        } else {
            shm::OFlags::RDWR
        };
        let file = File::from(shm::open(name, flags, Mode::RUSR | Mode::WUSR).expect("shm_open"));
        let len = 2 * size_of::<FloorSlot>();
        if parent {
            file.set_len(len as u64).expect("ftruncate");
        }
        let map = memmap2::MmapOptions::new()
            .len(len)
            .map_raw(&file)
            .expect("mmap");
        Self {
            name: name.to_string(),
            map,
            tx: usize::from(!parent),
            sent: 0,
            received: 0,
        }
    }

    fn slot(&self, i: usize) -> &FloorSlot {
        debug_assert!(i < 2 && self.map.len() >= 2 * size_of::<FloorSlot>());
        // SAFETY: the mapping is page-aligned and holds two FloorSlots (sized by the parent
        // before the child opens it); a FloorSlot is atomics only, valid for any bytes.
        unsafe { &*self.map.as_ptr().cast::<FloorSlot>().add(i) }
    }
}

impl Transport for Floor {
    fn attached(&mut self) {
        let _ = rustix::shm::unlink(self.name.as_str());
    }

    fn send(&mut self, seq: u64) {
        let slot = self.slot(self.tx);
        let stamp = 2 * self.sent;
        slot.seq.store(stamp + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let m = message(seq);
        for (i, word) in slot.words.iter().enumerate() {
            word.store(
                u64::from_ne_bytes(m[i * 8..i * 8 + 8].try_into().unwrap()),
                Ordering::Relaxed,
            );
        }
        slot.seq.store(stamp + 2, Ordering::Release);
        self.sent += 1;
    }

    fn recv(&mut self) -> u64 {
        let slot = self.slot(1 - self.tx);
        let want = 2 * self.received + 2;
        loop {
            if slot.seq.load(Ordering::Acquire) == want {
                let mut words = [0u64; WORDS];
                for (dst, word) in words.iter_mut().zip(&slot.words) {
                    *dst = word.load(Ordering::Relaxed);
                }
                fence(Ordering::Acquire);
                if slot.seq.load(Ordering::Relaxed) == want {
                    self.received += 1;
                    return u64::from_ne_bytes(words[0].to_ne_bytes());
                }
            }
            std::hint::spin_loop();
        }
    }
}

// ---- uds -------------------------------------------------------------------------------

struct Uds(UnixStream);

impl Transport for Uds {
    fn send(&mut self, seq: u64) {
        let m = message(seq);
        let mut sent = 0;
        while sent < m.len() {
            match self.0.write(&m[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => panic!("uds write: {e}"),
            }
        }
    }

    fn recv(&mut self) -> u64 {
        let mut m = [0u8; 64];
        let mut got = 0;
        while got < m.len() {
            match self.0.read(&mut m[got..]) {
                Ok(0) => panic!("uds peer closed"),
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => panic!("uds read: {e}"),
            }
        }
        seq_of(&m)
    }
}

// ---- driver ----------------------------------------------------------------------------

fn echo(mut t: impl Transport) {
    common::pin_cpu(1);
    loop {
        let seq = t.recv();
        t.send(seq);
        if seq == STOP {
            return;
        }
    }
}

fn spawn_child(role: &str, name: &str) -> Child {
    Command::new(env::current_exe().expect("exe"))
        .env(CHILD, role)
        .env(NAME, name)
        .spawn()
        .expect("spawn child")
}

/// Kills the echo child if the parent unwinds before the child has exited (a busy-polling child
/// would otherwise spin on as an orphan).
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn measure(name: &str, mut t: impl Transport, child: Child, iters: u64) -> Histogram<u64> {
    eprintln!("xproc: measuring {name} ({iters} round trips)");
    let mut child = Reap(child);
    common::pin_cpu(0);
    let warmup = iters / 10;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    for seq in 0..warmup + iters {
        let start = Instant::now();
        t.send(seq);
        let echoed = t.recv();
        let one_way = start.elapsed().as_nanos() as u64 / 2;
        assert_eq!(echoed, seq, "echo out of order");
        if seq == 0 {
            t.attached();
        }
        if seq >= warmup {
            hist.record(one_way.max(1)).expect("record");
        }
    }
    t.send(STOP);
    assert_eq!(t.recv(), STOP);
    assert!(child.0.wait().expect("child").success());
    hist
}

fn main() {
    if let Ok(role) = env::var(CHILD) {
        let name = env::var(NAME).expect("name");
        match role.as_str() {
            "orbit" => echo(Orbit::<Ping, Pong>::join(&name, false)),
            "orbit1" => echo(Orbit::<Ping1, Pong1>::join(&name, false)),
            "floor" => echo(Floor::open(&name, false)),
            "core" => echo(OrbitCore::join::<Ping, Pong>(&name, false)),
            "core1" => echo(OrbitCore::join::<Ping1, Pong1>(&name, false)),
            "uds" => {
                let stream = UnixStream::connect(&name).expect("connect");
                stream.set_nonblocking(true).expect("nonblocking");
                echo(Uds(stream));
            }
            other => panic!("unknown role {other}"),
        }
        return;
    }
    if env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and test discovery: nothing to list.
    }
    let iters: u64 = env::var("ORBIT_XPROC_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let rounds: u64 = env::var("ORBIT_XPROC_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let pid = std::process::id();
    let names = [
        "floor (seqlock slot)",
        "orbit, fleet API, 64 slots",
        "orbit core ring, 64 slots",
        "orbit, fleet API, 1 slot",
        "orbit core ring, 1 slot",
        "unix socket (busy-poll)",
    ];
    let new_hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let mut rows: Vec<(&str, Histogram<u64>)> = names.iter().map(|n| (*n, new_hist())).collect();
    // Rounds interleave the transports (in a rotating order), each with fresh processes, so a
    // slow phase of the machine or one unlucky placement weighs on all of them alike.
    let per_round = iters.div_ceil(rounds);
    for round in 0..rounds {
        for k in 0..names.len() {
            let which = (k + round as usize) % names.len();
            let hist = match which {
                0 => {
                    let name = format!("/orbit-bench-floor-{pid}-{round}");
                    let floor = Floor::open(&name, true);
                    let child = spawn_child("floor", &name);
                    measure("floor", floor, child, per_round)
                }
                1 => {
                    let fleet = format!("bench-{pid}-{round}");
                    let orbit = Orbit::<Ping, Pong>::join(&fleet, true);
                    let child = spawn_child("orbit", &fleet);
                    measure("orbit", orbit, child, per_round)
                }
                2 => {
                    let fleet = format!("bench-core-{pid}-{round}");
                    let core = OrbitCore::join::<Ping, Pong>(&fleet, true);
                    let child = spawn_child("core", &fleet);
                    measure("orbit core", core, child, per_round)
                }
                3 => {
                    let fleet = format!("bench-1-{pid}-{round}");
                    let orbit = Orbit::<Ping1, Pong1>::join(&fleet, true);
                    let child = spawn_child("orbit1", &fleet);
                    measure("orbit, 1 slot", orbit, child, per_round)
                }
                4 => {
                    let fleet = format!("bench-core-1-{pid}-{round}");
                    let core = OrbitCore::join::<Ping1, Pong1>(&fleet, true);
                    let child = spawn_child("core1", &fleet);
                    measure("orbit core, 1 slot", core, child, per_round)
                }
                _ => {
                    let sock = env::temp_dir().join(format!("orbit-bench-{pid}-{round}.sock"));
                    let listener = UnixListener::bind(&sock).expect("bind");
                    let child = spawn_child("uds", sock.to_str().expect("utf-8 path"));
                    let (stream, _) = listener.accept().expect("accept");
                    stream.set_nonblocking(true).expect("nonblocking");
                    let _ = std::fs::remove_file(&sock);
                    measure("uds", Uds(stream), child, per_round)
                }
            };
            rows[which].1.add(&hist).expect("same bounds");
        }
    }
    let iters = per_round * rounds;

    let floor_p50 = rows[0].1.value_at_quantile(0.5) as f64;
    let floor_p999 = rows[0].1.value_at_quantile(0.999) as f64;
    println!("\ncross-process one-way latency, 64-byte messages, {iters} round trips (ns)\n");
    println!("| transport | p50 | p99 | p99.9 | max | p50 / floor | p99.9 / floor |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, h) in &rows {
        let (p50, p99, p999) = (
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
        );
        println!(
            "| {name} | {p50} | {p99} | {p999} | {} | {:.2} | {:.2} |",
            h.max(),
            p50 as f64 / floor_p50,
            p999 as f64 / floor_p999
        );
    }
    // Machine-readable copy for scripts/ (plots): benches/suite/target/xproc/latency.csv.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/xproc");
    if let (Ok(()), Ok(mut out)) = (
        std::fs::create_dir_all(&dir),
        File::create(dir.join("latency.csv")),
    ) {
        {
            let _ = writeln!(out, "transport,quantile,ns");
            for (name, h) in &rows {
                for q in [0.5, 0.9, 0.99, 0.999, 0.9999] {
                    let _ = writeln!(out, "{name},{q},{}", h.value_at_quantile(q));
                }
            }
        }
    }
}

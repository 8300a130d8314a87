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
//! **Interleaved, so ratios mean something on a shared VM.** One parent and one child process
//! per round hold every transport's ends at once and take turns on them in blocks of
//! `ORBIT_XPROC_BLOCK` round trips (1 000 by default; one block per transport a cycle, in an
//! order that rotates each cycle), so a change of core placement or a noisy neighbour weighs on
//! all rows alike instead of on whichever row was running. The first tenth of every block settles the
//! transport after the switch and is not recorded; the first cycle is a warm-up.
//!
//! `cargo bench --manifest-path benches/suite/Cargo.toml --bench xproc` (`ORBIT_XPROC_ITERS`
//! sets the round trips per transport, 200 000 by default, split over `ORBIT_XPROC_ROUNDS`
//! rounds with fresh processes each, 5 by default).
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
const FLOOR_NAME: &str = "ORBIT_XPROC_FLOOR";
const SOCKET_NAME: &str = "ORBIT_XPROC_SOCKET";
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

/// One process's end: it writes `Tx` frames (under the ring's exclusive writer lease, as the
/// ring's one writer) and reads `Rx` frames.
struct Orbit<Tx: OrbitTyped, Rx: OrbitTyped> {
    fleet: Arc<Fleet>,
    tx: FleetWriter<Tx>,
    rx: FleetRing<Rx>,
    cursor: RingCursor,
}

impl<Tx: OrbitTyped, Rx: OrbitTyped> Orbit<Tx, Rx> {
    /// Joins fleet `name` as `node` (0: the parent, 1: the child).
    fn join(name: &str, node: u16) -> Self {
        let fleet = Arc::new(Fleet::join_shm_as(name, 2, node).expect("join"));
        let tx = fleet.ring::<Tx>().expect("tx ring");
        Self {
            tx: tx.exclusive_writer().expect("tx lease"),
            rx: fleet.ring::<Rx>().expect("rx ring"),
            cursor: RingCursor::from_start(),
            fleet,
        }
    }
}

impl<Tx: OrbitTyped, Rx: OrbitTyped> Transport for Orbit<Tx, Rx> {
    fn attached(&mut self) {
        // Only the names (`Fleet::unlink` would retire the rings: both processes would move
        // to fresh segments and lose their writer leases mid-run).
        self.fleet.remove_names().expect("remove the fleet's names");
    }

    fn send(&mut self, seq: u64) {
        self.tx
            .publish_frame(0, seq, &message(seq))
            .expect("publish");
    }

    fn recv(&mut self) -> u64 {
        let mut got = None;
        while got.is_none() {
            let poll = self
                .rx
                .poll_with(&mut self.cursor, |f| got = Some(seq_of(f.payload)));
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

/// Minimal single-writer seqlock slots: `slots` per direction, written in turn, each message's
/// seq naming its counter (`2 * counter + 1` while written, `2 * counter + 2` once done), as
/// orbit's slots do.
struct Floor {
    name: String,
    map: memmap2::MmapRaw,
    slots: usize,
    tx: usize,
    sent: u64,
    received: u64,
}

impl Floor {
    fn open(name: &str, slots: usize, parent: bool) -> Self {
        use rustix::fs::Mode;
        use rustix::shm;
        let flags = if parent {
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR
        } else {
            shm::OFlags::RDWR
        };
        let file = File::from(shm::open(name, flags, Mode::RUSR | Mode::WUSR).expect("shm_open"));
        let len = 2 * slots * size_of::<FloorSlot>();
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
            slots,
            tx: usize::from(!parent),
            sent: 0,
            received: 0,
        }
    }

    /// Direction `dir`'s slot of `counter`.
    fn slot(&self, dir: usize, counter: u64) -> &FloorSlot {
        let i = dir * self.slots + (counter % self.slots as u64) as usize;
        assert!(i < 2 * self.slots && self.map.len() >= 2 * self.slots * size_of::<FloorSlot>());
        // SAFETY: the mapping is page-aligned and holds 2 * slots FloorSlots (sized by the
        // parent before the child opens it; asserted); a FloorSlot is atomics only, valid for
        // any bytes.
        unsafe { &*self.map.as_ptr().cast::<FloorSlot>().add(i) }
    }
}

impl Transport for Floor {
    fn attached(&mut self) {
        let _ = rustix::shm::unlink(self.name.as_str());
    }

    fn send(&mut self, seq: u64) {
        let slot = self.slot(self.tx, self.sent);
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
        let slot = self.slot(1 - self.tx, self.received);
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

/// The transports, in table order.
const NAMES: [&str; 7] = [
    "floor, 1 slot",
    "orbit, fleet API, 64 slots",
    "orbit core ring, 64 slots",
    "orbit, fleet API, 1 slot",
    "orbit core ring, 1 slot",
    "unix socket (busy-poll)",
    "floor, 64 slots",
];

/// For each row of [`NAMES`], the floor row of the same slot count (the like-for-like ratio).
const FLOOR_OF: [usize; 7] = [0, 6, 6, 0, 0, 0, 6];

/// Every transport of one round, each end in one process: the parent measures, the child
/// echoes. Both sides open all of them before the first message, then take turns on them in
/// the same schedule ([`schedule`]), so neither side needs to be told when to switch.
struct Ends<O, O1> {
    floor: Floor,
    floor64: Floor,
    /// `Orbit<Ping, Pong>` in the parent, `Orbit<Pong, Ping>` in the child.
    orbit: O,
    core: OrbitCore,
    /// The same with one-slot rings.
    orbit1: O1,
    core1: OrbitCore,
    /// Connected after the others are open (the parent accepts once the child runs).
    uds: Option<Uds>,
}

/// The shared names of one round: `pid` is the parent's.
struct Names {
    floor: String,
    fleet: String,
    socket: std::path::PathBuf,
}

impl Names {
    fn of(pid: u32, round: u64) -> Self {
        Self {
            floor: format!("/orbit-bench-floor-{pid}-{round}"),
            fleet: format!("bench-{pid}-{round}"),
            socket: env::temp_dir().join(format!("orbit-bench-{pid}-{round}.sock")),
        }
    }

    /// The fleet of one orbit row.
    fn fleet(&self, row: &str) -> String {
        format!("{}-{row}", self.fleet)
    }

    fn from_env() -> Self {
        Self {
            floor: env::var(FLOOR_NAME).expect("floor name"),
            fleet: env::var(NAME).expect("fleet name"),
            socket: env::var(SOCKET_NAME).expect("socket name").into(),
        }
    }
}

impl<O: Transport, O1: Transport> Ends<O, O1> {
    /// The shared-memory transports' ends (the parent creates them); the socket is
    /// [`connected`](Self::connected) after.
    fn open(
        names: &Names,
        parent: bool,
        orbit: impl FnOnce(&str) -> O,
        orbit1: impl FnOnce(&str) -> O1,
    ) -> Self {
        // A fleet per orbit row, so each row's processes are its rings' only users.
        Self {
            floor: Floor::open(&names.floor, 1, parent),
            floor64: Floor::open(&format!("{}-64", names.floor), 64, parent),
            orbit: orbit(&names.fleet("orbit")),
            core: OrbitCore::join::<Ping, Pong>(&names.fleet("core"), parent),
            orbit1: orbit1(&names.fleet("orbit1")),
            core1: OrbitCore::join::<Ping1, Pong1>(&names.fleet("core1"), parent),
            uds: None,
        }
    }

    fn connected(&mut self, stream: UnixStream) {
        stream.set_nonblocking(true).expect("nonblocking");
        self.uds = Some(Uds(stream));
    }

    /// Removes the shared names once both sides have attached (after a first echo on each).
    fn attached(&mut self) {
        self.floor.attached();
        self.floor64.attached();
        self.orbit.attached();
        self.core.attached();
        self.orbit1.attached();
        self.core1.attached();
    }
}

/// Runs one block of `count` round trips on transport `which` (an index into [`NAMES`]):
/// `$body` is monomorphised per transport, so the block's loop has no dispatch in it.
macro_rules! on {
    ($ends:expr, $which:expr, $t:ident => $body:expr) => {
        match $which {
            0 => {
                let $t = &mut $ends.floor;
                $body
            }
            1 => {
                let $t = &mut $ends.orbit;
                $body
            }
            2 => {
                let $t = &mut $ends.core;
                $body
            }
            3 => {
                let $t = &mut $ends.orbit1;
                $body
            }
            4 => {
                let $t = &mut $ends.core1;
                $body
            }
            6 => {
                let $t = &mut $ends.floor64;
                $body
            }
            _ => {
                let $t = $ends.uds.as_mut().expect("connected");
                $body
            }
        }
    };
}

/// The order of blocks: block `b` goes to transport `schedule(b)`. Each cycle covers every
/// transport once, in an order that rotates from cycle to cycle, so no transport always follows
/// the same one.
fn schedule(block: u64) -> usize {
    let n = NAMES.len() as u64;
    let (cycle, k) = (block / n, block % n);
    ((k + cycle) % n) as usize
}

fn echo_block(t: &mut impl Transport, count: u64) -> bool {
    for _ in 0..count {
        let seq = t.recv();
        t.send(seq);
        if seq == STOP {
            return false;
        }
    }
    true
}

/// Runs `count` round trips on `t` and records all but the first tenth: those settle the
/// transport after the switch from another one (its lines back in the caches), so the
/// histogram shows each transport's steady state, as a run of its own would.
fn measure_block(t: &mut impl Transport, first: u64, count: u64, hist: &mut Histogram<u64>) {
    let settled = first + count / 10;
    for seq in first..first + count {
        let start = Instant::now();
        t.send(seq);
        let echoed = t.recv();
        let one_way = start.elapsed().as_nanos() as u64 / 2;
        assert_eq!(echoed, seq, "echo out of order");
        if seq >= settled {
            hist.record(one_way.max(1)).expect("record");
        }
    }
}

/// The child: opens every transport's far end, then echoes block after block, in the
/// schedule's order, until a transport brings [`STOP`].
fn echo(block_len: u64) {
    let names = Names::from_env();
    let mut ends = Ends::open(
        &names,
        false,
        |name| Orbit::<Pong, Ping>::join(name, 1),
        |name| Orbit::<Pong1, Ping1>::join(name, 1),
    );
    ends.connected(UnixStream::connect(&names.socket).expect("connect"));
    common::pin_cpu(1);
    let mut block = 0;
    loop {
        let more = on!(ends, schedule(block), t => echo_block(t, block_len));
        if !more {
            return;
        }
        block += 1;
    }
}

fn spawn_child(names: &Names) -> Child {
    Command::new(env::current_exe().expect("exe"))
        .env(CHILD, "1")
        .env(NAME, &names.fleet)
        .env(FLOOR_NAME, &names.floor)
        .env(SOCKET_NAME, &names.socket)
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

/// One round: a fresh child, every transport measured in blocks of `block_len` round trips
/// taking turns, `per_transport` recorded round trips each after a warm-up cycle.
fn round(pid: u32, round: u64, block_len: u64, per_transport: u64, rows: &mut [Histogram<u64>]) {
    let names = Names::of(pid, round);
    let listener = UnixListener::bind(&names.socket).expect("bind");
    // The floor's object, the fleet's segments: created by the parent before the child opens
    // them (the child's `Floor::open` needs the sized object).
    let mut ends = Ends::open(
        &names,
        true,
        |name| Orbit::<Ping, Pong>::join(name, 0),
        |name| Orbit::<Ping1, Pong1>::join(name, 0),
    );
    let mut child = Reap(spawn_child(&names));
    let (stream, _) = listener.accept().expect("accept");
    let _ = std::fs::remove_file(&names.socket);
    ends.connected(stream);
    common::pin_cpu(0);
    let cycle = NAMES.len() as u64;
    let blocks = cycle + per_transport.div_ceil(block_len) * cycle;
    eprintln!(
        "xproc: round {round}: {blocks} blocks of {block_len} round trips, every transport in turn"
    );
    let mut seq = 0;
    let mut warmup = vec![
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
            .expect("histogram");
        NAMES.len()
    ];
    for block in 0..blocks {
        let which = schedule(block);
        // The first cycle warms every transport up (and proves both ends attached).
        let hist = if block < cycle {
            &mut warmup[which]
        } else {
            &mut rows[which]
        };
        on!(ends, which, t => measure_block(t, seq, block_len, hist));
        seq += block_len;
        if block + 1 == cycle {
            ends.attached();
        }
    }
    let which = schedule(blocks);
    on!(ends, which, t => {
        t.send(STOP);
        assert_eq!(t.recv(), STOP);
    });
    assert!(child.0.wait().expect("child").success());
}

fn main() {
    let block_len: u64 = env::var("ORBIT_XPROC_BLOCK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    if env::var(CHILD).is_ok() {
        echo(block_len);
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
    let new_hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let mut rows: Vec<Histogram<u64>> = NAMES.iter().map(|_| new_hist()).collect();
    let per_round = iters.div_ceil(rounds);
    for r in 0..rounds {
        round(pid, r, block_len, per_round, &mut rows);
    }
    let iters = rows[0].len();

    let p50 = |row: usize| rows[row].value_at_quantile(0.5) as f64;
    let p999 = |row: usize| rows[row].value_at_quantile(0.999) as f64;
    println!("\ncross-process one-way latency, 64-byte messages, {iters} round trips (ns)\n");
    println!(
        "| transport | p50 | p99 | p99.9 | max | p50 / floor | p99.9 / floor \
         | p50 / floor, same slots | p99.9 / floor, same slots |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (row, (name, h)) in NAMES.iter().zip(&rows).enumerate() {
        let same = FLOOR_OF[row];
        println!(
            "| {name} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            p50(row),
            h.value_at_quantile(0.99),
            p999(row),
            h.max(),
            p50(row) / p50(0),
            p999(row) / p999(0),
            p50(row) / p50(same),
            p999(row) / p999(same),
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
            for (name, h) in NAMES.iter().zip(&rows) {
                for q in [0.5, 0.9, 0.99, 0.999, 0.9999] {
                    let _ = writeln!(out, "{name},{q},{}", h.value_at_quantile(q));
                }
            }
        }
    }
}

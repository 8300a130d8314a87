//! Waiting without spinning (#12): what a blocked reader's wake-up costs, and what the waiting
//! protocol costs writers. Three parts, in this order, in one run:
//!
//! 1. **Wake latency** across processes: a publisher process (CPU 1) sends one 64-byte message
//!    every `ORBIT_WAIT_GAP_US` µs (300 by default, a `thread::sleep`), stamped with
//!    `CLOCK_MONOTONIC` just before the send; the reader process (CPU 0) records
//!    now − stamp once the message is in its memory. Transports:
//!    * `orbit wait`: a shared-memory fleet ring (`Fleet::join_shm_as`, `fleet.ring::<T>()`),
//!      written through `FleetRing::exclusive_writer`; the reader polls, and on an empty poll
//!      blocks in `FleetRing::wait` — asleep in the kernel when the message is published;
//!    * `orbit spin`: the same ring, the reader busy-polling through the gap (`spin_loop`);
//!    * `unix socket`: a blocking `UnixStream`, the reader asleep in `read`;
//!    * controls, for the two sleeping transports: the reader's CPU kept busy by a `SCHED_IDLE`
//!      spinner (the wake-up then does not include waking an idle virtual CPU), and the
//!      publisher on the reader's CPU (no cross-CPU interrupt at all).
//!
//!    Rounds interleave the transports with fresh processes each. Per transport: the reader
//!    thread's voluntary context switches per message (≈ 1: it really slept; ≈ 0: it spun), and
//!    how many messages found the reader not yet asleep (it had not started waiting at least
//!    50 µs before the stamp: such samples are counted and left out of the histogram).
//! 2. **Publish cost** through the fleet API (`FleetWriter::publish_frame`, 64 B) with no reader
//!    and with one reader process blocked in `FleetRing::wait` on the same ring: *paced* (one
//!    publish every gap, each timed on its own, so the waiter is asleep before every publish
//!    and each publish pays a futex wake; a blocking socket `write` to a reader asleep in `read`
//!    is the reference) and *flood* (back to back, batches timed; the waiter wakes, polls, and
//!    registers again as it can; a reader busy-polling instead is the control). Then the
//!    waiter's own side: a `FleetRing::wait` with a zero timeout on an empty ring (register,
//!    `membarrier`, look again, time out) and `membarrier(GLOBAL_EXPEDITED)` alone, with the
//!    other core idle and with a registered writer process publishing flat out on it.
//! 3. **`ExclusiveWriter::publish` with the waiting protocol and without it**
//!    (`publish_unnotified_for_bench`, feature `hooks` of this crate, which turns on orbit-rs's
//!    `__test-hooks`): criterion, on one core `Ring` of 1024 64-byte slots and no readers, the
//!    two alternating over `ORBIT_WAIT_CRITERION_ROUNDS` rounds (4; order A B, B A, A B, B A),
//!    then an interleaved probe (alternating timed batches of 1 M publishes, A B B A).
//!
//! `cargo bench --manifest-path benches/suite/Cargo.toml --features hooks --bench wait`
//! (about two minutes here; without `--features hooks` part 3 is skipped). Scale with
//! `ORBIT_WAIT_ITERS` (messages per transport in part 1, 20 000), `ORBIT_WAIT_ROUNDS` (4),
//! `ORBIT_WAIT_GAP_US` (300), `ORBIT_WAIT_PACED` (paced publishes per case, 6 000),
//! `ORBIT_WAIT_FLOOD` (flood publishes per case, 1 000 000); pick parts with
//! `ORBIT_WAIT_PARTS` (`wake,cost,publish`). Criterion arguments after `--` filter part 3.
//! Tables go to stdout, CSV copies to `benches/suite/target/wait/{wake,publish}.csv`.

#![allow(clippy::disallowed_types)] // std atomics in the shared bench code.
mod common;

use std::env;
use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use orbit_rs::{Fleet, FleetRing, FleetWriter, OrbitTyped, RingCursor, Waited};

const CHILD: &str = "ORBIT_WAIT_CHILD";
const NAME: &str = "ORBIT_WAIT_NAME";
const COUNT: &str = "ORBIT_WAIT_CHILD_COUNT";
const GAP_NS: &str = "ORBIT_WAIT_CHILD_GAP_NS";
const CPU: &str = "ORBIT_WAIT_CHILD_CPU";
const STOP: u64 = u64::MAX;

/// A reader that started waiting less than this before a message was stamped may not have
/// been asleep yet: the sample is counted as "not asleep" and left out.
const ASLEEP_AFTER_NS: u64 = 50_000;

/// Longest a reader waits for a message before it gives up on the run.
const PATIENCE: Duration = Duration::from_secs(20);

/// The parent (reader, or the timed writer) runs on CPU 0, the child on CPU 1.
const PARENT_CPU: usize = 0;
const CHILD_CPU: usize = 1;

/// The measured ring: 64 slots of 64-byte payloads (128-byte slots), as in `xproc`.
struct Msg;
impl OrbitTyped for Msg {
    const KIND: u8 = 72;
    const CAPACITY: usize = 64;
    const PAYLOAD: usize = 64;
}

/// The ring a background writer floods while the waiter's own cost is measured.
struct Noise;
impl OrbitTyped for Noise {
    const KIND: u8 = 73;
    const CAPACITY: usize = 64;
    const PAYLOAD: usize = 64;
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process of the machine.
fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// 64 bytes: the send stamp, the sequence number, a fixed pattern.
fn message(seq: u64, stamp: u64) -> [u8; 64] {
    let mut m = [0xA5u8; 64];
    m[..8].copy_from_slice(&stamp.to_le_bytes());
    m[8..16].copy_from_slice(&seq.to_le_bytes());
    m
}

/// (seq, stamp) of a [`message`].
fn parse(bytes: &[u8]) -> (u64, u64) {
    let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    (word(8), word(0))
}

/// This thread's voluntary context switches so far (`/proc/thread-self/status`): each is one
/// sleep in the kernel.
fn voluntary_switches() -> u64 {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn env_u64(name: &str, default: u64) -> u64 {
    env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn new_hist() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")
}

/// Kills a child still running when its handle goes (a parent that panicked, or a flooder
/// that runs until told otherwise).
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Reap {
    fn finish(mut self) {
        assert!(self.0.wait().expect("child").success(), "child failed");
    }
}

/// What a child is told: its role, the shared name, and for a paced publisher the message count
/// and the gap.
struct ChildSpec<'a> {
    role: &'a str,
    name: &'a str,
    count: u64,
    gap: Duration,
    cpu: usize,
    /// Its stdout piped to the parent (for `ready` and its statistics).
    piped: bool,
}

impl<'a> ChildSpec<'a> {
    fn new(role: &'a str, name: &'a str) -> Self {
        Self {
            role,
            name,
            count: 0,
            gap: Duration::ZERO,
            cpu: CHILD_CPU,
            piped: true,
        }
    }
}

fn spawn_child(spec: ChildSpec<'_>) -> Reap {
    let mut cmd = Command::new(env::current_exe().expect("exe"));
    cmd.env(CHILD, spec.role)
        .env(NAME, spec.name)
        .env(COUNT, spec.count.to_string())
        .env(GAP_NS, spec.gap.as_nanos().to_string())
        .env(CPU, spec.cpu.to_string());
    let piped = spec.piped;
    if piped {
        cmd.stdout(Stdio::piped());
    }
    Reap(cmd.spawn().expect("spawn child"))
}

/// Reads one line the child printed (`ready`, its statistics).
fn child_line(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).expect("child output");
    line.trim().to_string()
}

/// Keeps a CPU from going idle while it lives: a `SCHED_IDLE` thread spinning there, which a
/// woken thread of any normal policy preempts at once. The control rows of part 1: a sleeping
/// reader whose CPU is busy, so its wake-up does not include waking an idle virtual CPU.
#[allow(clippy::disallowed_types)] // A process-local stop flag.
struct Keeper {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[allow(clippy::disallowed_types)]
impl Keeper {
    fn start(cpu: usize) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            common::pin_cpu(cpu);
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: sched_setscheduler reads the one sched_param behind the pointer during
            // the call; pid 0 is the calling thread.
            let set = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
            assert_eq!(set, 0, "SCHED_IDLE refused");
            while !flag.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

#[allow(clippy::disallowed_types)]
impl Drop for Keeper {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn join(name: &str, node: u16) -> Fleet {
    Fleet::join_shm_as(name, 2, node).expect("join the fleet")
}

// ---- part 1: wake latency ---------------------------------------------------------------

/// A message as the reader got it.
struct Received {
    seq: u64,
    stamp: u64,
    /// When the reader last went to sleep (or to wait) for it; `None`: it was there already,
    /// or the reader spins.
    slept_since: Option<u64>,
}

/// The reading end of a wake-latency transport.
trait Receiver {
    fn recv(&mut self) -> Received;
    /// The first message arrived, so the publisher has attached: remove shared names now.
    fn attached(&mut self) {}
}

/// The fleet ring, read by a reader that blocks (`wait`) or spins between messages.
struct OrbitReader {
    fleet: Fleet,
    ring: FleetRing<Msg>,
    cursor: RingCursor,
    blocking: bool,
}

impl OrbitReader {
    fn join(name: &str, blocking: bool) -> Self {
        let fleet = join(name, 0);
        let ring = fleet.ring::<Msg>().expect("ring");
        Self {
            fleet,
            ring,
            cursor: RingCursor::from_start(),
            blocking,
        }
    }
}

impl Receiver for OrbitReader {
    fn attached(&mut self) {
        self.fleet.remove_names().expect("remove the fleet's names");
    }

    fn recv(&mut self) -> Received {
        let mut slept_since = None;
        loop {
            let mut got = None;
            let poll = self
                .ring
                .poll_with_limit(&mut self.cursor, 1, |f| got = Some(parse(f.payload)));
            assert_eq!(
                poll.loss.total(),
                0,
                "a paced publisher never laps the ring"
            );
            if let Some((seq, stamp)) = got {
                return Received {
                    seq,
                    stamp,
                    slept_since,
                };
            }
            if self.blocking {
                slept_since = Some(now_ns());
                let waited = self.ring.wait(&self.cursor, PATIENCE);
                assert_eq!(waited, Waited::Ready, "no message for {PATIENCE:?}");
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// A blocking Unix stream socket: the reader sleeps in `read`.
struct UdsReader(UnixStream);

impl Receiver for UdsReader {
    fn recv(&mut self) -> Received {
        let mut m = [0u8; 64];
        let slept_since = Some(now_ns());
        self.0.read_exact(&mut m).expect("uds read");
        let (seq, stamp) = parse(&m);
        Received {
            seq,
            stamp,
            slept_since,
        }
    }
}

/// What one transport measured.
struct WakeStats {
    hist: Histogram<u64>,
    messages: u64,
    /// Voluntary context switches of the reader thread over the measured messages.
    sleeps: u64,
    /// Measured messages that found the reader not (surely) asleep; not in `hist`.
    not_asleep: u64,
    blocking: bool,
}

impl WakeStats {
    fn new(blocking: bool) -> Self {
        Self {
            hist: new_hist(),
            messages: 0,
            sleeps: 0,
            not_asleep: 0,
            blocking,
        }
    }
}

/// Receives `warmup + count` messages from a paced publisher child, then its stop message.
fn wake_round(mut rx: impl Receiver, child: Reap, warmup: u64, count: u64, into: &mut WakeStats) {
    common::pin_cpu(PARENT_CPU);
    let mut switches_at_start = voluntary_switches();
    for i in 0..warmup + count {
        let r = rx.recv();
        let latency = now_ns().saturating_sub(r.stamp).max(1);
        assert_eq!(r.seq, i, "messages out of order");
        if i == 0 {
            rx.attached();
        }
        if i + 1 == warmup {
            switches_at_start = voluntary_switches();
        }
        if i < warmup {
            continue;
        }
        into.messages += 1;
        let asleep = r
            .slept_since
            .is_some_and(|t| r.stamp >= t + ASLEEP_AFTER_NS);
        if into.blocking && !asleep {
            into.not_asleep += 1;
        } else {
            into.hist.record(latency).expect("record");
        }
    }
    into.sleeps += voluntary_switches() - switches_at_start;
    assert_eq!(rx.recv().seq, STOP);
    child.finish();
}

/// The publisher child: one message every `gap`, stamped just before the send.
fn publish_paced(mut send: impl FnMut(u64, u64), count: u64, gap: Duration, cpu: usize) {
    common::pin_cpu(cpu);
    for seq in 0..count {
        std::thread::sleep(gap);
        send(seq, now_ns());
    }
    std::thread::sleep(gap);
    send(STOP, now_ns());
}

const WAKE_NAMES: [&str; 7] = [
    "orbit wait (blocked in FleetRing::wait)",
    "unix socket (blocked in read)",
    "orbit spin (busy-polling FleetRing::poll_with)",
    "control: orbit wait, reader's CPU kept busy (SCHED_IDLE spinner)",
    "control: unix socket, reader's CPU kept busy (SCHED_IDLE spinner)",
    "control: orbit wait, publisher on the reader's CPU",
    "control: unix socket, publisher on the reader's CPU",
];

fn wake_latency(cfg: &Config) {
    let pid = std::process::id();
    let per_round = cfg.wake_iters.div_ceil(cfg.rounds);
    let warmup = (per_round / 10).max(10);
    let mut rows: Vec<WakeStats> = (0..WAKE_NAMES.len())
        .map(|which| WakeStats::new(which != 2))
        .collect();
    for round in 0..cfg.rounds {
        for k in 0..WAKE_NAMES.len() {
            let which = (k + round as usize) % WAKE_NAMES.len();
            eprintln!(
                "wait: wake latency, round {round}, {} ({per_round} messages)",
                WAKE_NAMES[which]
            );
            let total = warmup + per_round;
            let keeper = (which == 3 || which == 4).then(|| Keeper::start(PARENT_CPU));
            let cpu = if which >= 5 { PARENT_CPU } else { CHILD_CPU };
            let publisher = |role, name| ChildSpec {
                count: total,
                gap: cfg.gap,
                cpu,
                piped: false,
                ..ChildSpec::new(role, name)
            };
            match which {
                0 | 2 | 3 | 5 => {
                    let name = format!("wake-{pid}-{round}-{which}");
                    let reader = OrbitReader::join(&name, which != 2);
                    let child = spawn_child(publisher("publisher-orbit", &name));
                    wake_round(reader, child, warmup, per_round, &mut rows[which]);
                }
                _ => {
                    let sock = env::temp_dir().join(format!("orbit-wait-{pid}-{round}.sock"));
                    let listener = UnixListener::bind(&sock).expect("bind");
                    let path = sock.to_str().expect("utf-8 path");
                    let child = spawn_child(publisher("publisher-uds", path));
                    let (stream, _) = listener.accept().expect("accept");
                    let _ = std::fs::remove_file(&sock);
                    wake_round(
                        UdsReader(stream),
                        child,
                        warmup,
                        per_round,
                        &mut rows[which],
                    );
                }
            }
            drop(keeper);
        }
    }

    let uds_p50 = rows[1].hist.value_at_quantile(0.5) as f64;
    println!(
        "\nwake latency across processes: publish → the reader has the 64-byte message, one \
         message every {} µs, {} messages per transport over {} rounds (ns)\n",
        cfg.gap.as_micros(),
        per_round * cfg.rounds,
        cfg.rounds
    );
    println!(
        "| transport | p50 | p90 | p99 | p99.9 | max | mean | p50 / socket p50 | sleeps per message | not asleep (left out) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, s) in WAKE_NAMES.iter().zip(&rows) {
        let h = &s.hist;
        println!(
            "| {name} | {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.3} | {} |",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
            h.mean(),
            h.value_at_quantile(0.5) as f64 / uds_p50,
            s.sleeps as f64 / s.messages.max(1) as f64,
            s.not_asleep,
        );
    }
    let ratio = rows[0].hist.value_at_quantile(0.5) as f64 / uds_p50;
    println!(
        "\n#12 target, wake p50 ≤ 0.5 × the socket's: {ratio:.2} × → {}",
        if ratio <= 0.5 { "met" } else { "NOT met" }
    );
    let p50 = |i: usize| rows[i].hist.value_at_quantile(0.5) as f64;
    println!(
        "controls, orbit wait p50 / socket p50: reader's CPU kept busy {:.2} ×, publisher on \
         the reader's CPU {:.2} ×",
        p50(3) / p50(4),
        p50(5) / p50(6)
    );
    write_csv("wake.csv", "transport,quantile,ns", |out| {
        for (name, s) in WAKE_NAMES.iter().zip(&rows) {
            for q in [0.5, 0.9, 0.99, 0.999, 0.9999] {
                writeln!(out, "{name},{q},{}", s.hist.value_at_quantile(q))?;
            }
        }
        Ok(())
    });
}

// ---- part 2: publish cost with and without a waiting reader ------------------------------

/// One row of the publish-cost table.
struct CostRow {
    case: String,
    /// ns per publish (or per call): min, p50, p99, mean.
    min: f64,
    p50: f64,
    p99: f64,
    mean: f64,
    /// The waiter's wake-ups (`wait` returning `Ready`) and sleeps, per publish.
    waiter: Option<Vec<f64>>,
}

impl CostRow {
    fn from_hist(case: String, h: &Histogram<u64>, waiter: Option<Vec<f64>>) -> Self {
        Self {
            case,
            min: h.min() as f64,
            p50: h.value_at_quantile(0.5) as f64,
            p99: h.value_at_quantile(0.99) as f64,
            mean: h.mean(),
            waiter,
        }
    }

    /// From timed batches (ns per publish of each).
    fn from_batches(case: String, v: &mut [f64], waiter: Option<Vec<f64>>) -> Self {
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        Self {
            case,
            min: v[0],
            p50: q(0.5),
            p99: q(0.99),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            waiter,
        }
    }
}

/// A writer session: the parent holds the ring's writer lease, with or without a waiting
/// child on the same ring.
struct WriterSession {
    fleet: Fleet,
    writer: FleetWriter<Msg>,
    waiter: Option<(Reap, BufReader<ChildStdout>)>,
    published: u64,
}

impl WriterSession {
    /// `reader`: the child's role on the ring (`waiter`, `spinner`), if any.
    fn open(name: &str, reader: Option<&str>) -> Self {
        let fleet = join(name, 0);
        let writer = fleet
            .ring::<Msg>()
            .expect("ring")
            .exclusive_writer()
            .expect("lease");
        let waiter = reader.map(|role| {
            let mut child = spawn_child(ChildSpec::new(role, name));
            let mut out = BufReader::new(child.0.stdout.take().expect("piped"));
            assert_eq!(child_line(&mut out), "ready");
            (child, out)
        });
        fleet.remove_names().expect("remove the fleet's names");
        // Let the waiter fall asleep.
        std::thread::sleep(Duration::from_millis(20));
        common::pin_cpu(PARENT_CPU);
        Self {
            fleet,
            writer,
            waiter,
            published: 0,
        }
    }

    #[inline]
    fn publish(&mut self, seq: u64, stamp: u64) {
        self.publish_message(seq, &message(seq, stamp));
    }

    #[inline]
    fn publish_message(&mut self, seq: u64, m: &[u8; 64]) {
        self.writer.publish_frame(0, seq, m).expect("publish");
        self.published += 1;
    }

    /// Stops the reader; returns its counts per publish (wake-ups, sleeps, slow waits).
    fn finish(mut self) -> Option<Vec<f64>> {
        self.publish(STOP, 0);
        let (child, mut out) = self.waiter.take()?;
        let stats = child_line(&mut out);
        child.finish();
        drop(self.fleet);
        Some(parse_stats(&stats, self.published))
    }
}

/// The waiter child: blocks in `wait`, drains, until the stop frame; prints its counts.
/// `spin`: the control, a reader that busy-polls instead of waiting.
fn reader_child(name: &str, spin: bool) {
    common::pin_cpu(CHILD_CPU);
    let fleet = join(name, 1);
    let ring = fleet.ring::<Msg>().expect("ring");
    let mut cursor = ring.cursor_at_head();
    println!("ready");
    std::io::stdout().flush().expect("flush");
    let switches = voluntary_switches();
    let (mut ready, mut slow) = (0u64, 0u64);
    loop {
        if !spin {
            let t0 = now_ns();
            let waited = ring.wait(&cursor, PATIENCE);
            // Registering costs a `membarrier` (≥ 0.5 µs here); a wait that found news at
            // once returns in well under that.
            slow += u64::from(now_ns() - t0 >= SLOW_WAIT_NS);
            assert_eq!(waited, Waited::Ready, "waiter: nothing for {PATIENCE:?}");
            ready += 1;
        }
        let mut stop = false;
        let poll = ring.poll_with(&mut cursor, |f| stop |= parse(f.payload).0 == STOP);
        if stop {
            break;
        }
        if spin && poll.delivered == 0 {
            std::hint::spin_loop();
        }
    }
    println!("stats {ready} {} {slow}", voluntary_switches() - switches);
}

/// A `wait` that took this long registered (or slept): see [`reader_child`].
const SLOW_WAIT_NS: u64 = 400;

/// A child's `stats` line, each count per publish.
fn parse_stats(line: &str, published: u64) -> Vec<f64> {
    line.strip_prefix("stats ")
        .expect("child stats")
        .split(' ')
        .map(|v| v.parse::<f64>().expect("number") / published as f64)
        .collect()
}

/// Paced: one send every gap, each timed alone (two clock reads included).
fn paced(mut send: impl FnMut(u64, u64), count: u64, gap: Duration, into: &mut Histogram<u64>) {
    let warmup = (count / 10).max(10);
    for seq in 0..warmup + count {
        std::thread::sleep(gap);
        let t0 = now_ns();
        send(seq, t0);
        let t = now_ns() - t0;
        if seq >= warmup {
            into.record(t.max(1)).expect("record");
        }
    }
}

/// Flood: back to back, in timed batches; ns per publish of each batch after the first.
fn flood(s: &mut WriterSession, count: u64, batch: u64, into: &mut Vec<f64>) {
    let m = message(1, 0);
    for b in 0..=count.div_ceil(batch) {
        let start = Instant::now();
        for _ in 0..batch {
            s.publish_message(1, black_box(&m));
        }
        let per = start.elapsed().as_secs_f64() * 1e9 / batch as f64;
        if b > 0 {
            into.push(per);
        }
    }
}

/// The socket reference for the paced case: a reader child blocked in a socket `read`, for
/// 64-byte messages until the stop message; prints its reads and sleeps.
fn uds_sink(path: &str) {
    common::pin_cpu(CHILD_CPU);
    let mut stream = UnixStream::connect(path).expect("connect");
    println!("ready");
    std::io::stdout().flush().expect("flush");
    let switches = voluntary_switches();
    let (mut m, mut reads) = ([0u8; 64], 0u64);
    loop {
        stream.read_exact(&mut m).expect("uds read");
        reads += 1;
        if parse(&m).0 == STOP {
            break;
        }
    }
    println!("stats {reads} {}", voluntary_switches() - switches);
}

/// Paced blocking socket writes to a reader asleep in `read`: the socket's price of a wake.
fn uds_paced(name: &str, count: u64, gap: Duration, into: &mut Histogram<u64>) -> Vec<f64> {
    let sock = env::temp_dir().join(format!("orbit-wait-{name}.sock"));
    let listener = UnixListener::bind(&sock).expect("bind");
    let mut child = spawn_child(ChildSpec::new(
        "uds-sink",
        sock.to_str().expect("utf-8 path"),
    ));
    let mut out = BufReader::new(child.0.stdout.take().expect("piped"));
    let (mut stream, _) = listener.accept().expect("accept");
    let _ = std::fs::remove_file(&sock);
    assert_eq!(child_line(&mut out), "ready");
    std::thread::sleep(Duration::from_millis(20));
    common::pin_cpu(PARENT_CPU);
    let mut sent = 0u64;
    let mut send = |seq: u64, stamp: u64| {
        stream.write_all(&message(seq, stamp)).expect("uds write");
        sent += 1;
    };
    paced(&mut send, count, gap, into);
    send(STOP, 0);
    let stats = child_line(&mut out);
    child.finish();
    parse_stats(&stats, sent)
}

/// The flooder child: a registered writer publishing flat out on another ring until killed.
fn flooder_child(name: &str) {
    common::pin_cpu(CHILD_CPU);
    let fleet = join(name, 1);
    let mut writer = fleet
        .ring::<Noise>()
        .expect("ring")
        .exclusive_writer()
        .expect("lease");
    writer.publish_frame(0, 0, &message(0, 0)).expect("publish");
    println!("ready");
    std::io::stdout().flush().expect("flush");
    for seq in 1.. {
        writer
            .publish_frame(0, seq, &message(seq, 0))
            .expect("publish");
    }
}

/// `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, as a waiter issues it; false if refused.
fn membarrier_global_expedited() -> bool {
    const CMD_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
    // SAFETY: membarrier takes two integers and touches no user memory.
    unsafe { libc::syscall(libc::SYS_membarrier, CMD_GLOBAL_EXPEDITED, 0) == 0 }
}

/// The waiter's side alone: `wait` with a zero timeout on an empty ring, and `membarrier`
/// alone, `calls` times each, each call timed (two clock reads included); with the other core
/// idle also a trivial system call (`getppid`), the price of entering the kernel here.
fn waiter_side(name: &str, calls: u64, busy_other_core: bool) -> Vec<CostRow> {
    let fleet = join(name, 0);
    let ring = fleet.ring::<Msg>().expect("ring");
    let cursor = ring.cursor_at_head();
    // The flooder's ring too, so that this handle's `remove_names` removes its name.
    let _noise = fleet.ring::<Noise>().expect("noise ring");
    let flooder = busy_other_core.then(|| {
        let mut child = spawn_child(ChildSpec::new("flooder", name));
        let mut out = BufReader::new(child.0.stdout.take().expect("piped"));
        assert_eq!(child_line(&mut out), "ready");
        child
    });
    fleet.remove_names().expect("remove the fleet's names");
    common::pin_cpu(PARENT_CPU);
    let other = if busy_other_core {
        "other core: a registered writer publishing"
    } else {
        "other core idle"
    };
    let time = |case: String, f: &mut dyn FnMut()| {
        let mut h = new_hist();
        for i in 0..calls + calls / 10 {
            let t0 = now_ns();
            f();
            let t = now_ns() - t0;
            if i >= calls / 10 {
                h.record(t.max(1)).expect("record");
            }
        }
        CostRow::from_hist(case, &h, None)
    };
    let mut rows = vec![time(
        format!("waiter side: `wait(timeout 0)` on an empty ring, {other}"),
        &mut || {
            let waited = ring.wait(black_box(&cursor), Duration::ZERO);
            assert_eq!(waited, Waited::TimedOut);
        },
    )];
    let mut refused = false;
    let mut row = time(
        format!("waiter side: `membarrier(GLOBAL_EXPEDITED)` alone, {other}"),
        &mut || refused |= !membarrier_global_expedited(),
    );
    if refused {
        row.case.push_str(" (REFUSED)");
    }
    rows.push(row);
    if !busy_other_core {
        rows.push(time(
            "a trivial system call (`getppid`)".into(),
            &mut || {
                black_box(std::os::unix::process::parent_id());
            },
        ));
    }
    drop(flooder);
    rows
}

fn publish_cost(cfg: &Config) {
    let pid = std::process::id();
    // Paced cases: no reader, a waiting reader, a socket reader blocked in `read`.
    let mut paced_hist = [new_hist(), new_hist(), new_hist()];
    let mut timer_hist = new_hist();
    // Flood cases: no reader, a waiting reader, a spinning reader (the control).
    let mut flood_batches: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    // The readers' wake-ups and sleeps per publish: paced waiter, flood waiter, paced socket.
    let mut waiter_stats: [Vec<Vec<f64>>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let rounds = 2u64;
    let paced_per_round = cfg.paced.div_ceil(rounds);
    let flood_per_round = cfg.flood.div_ceil(rounds);
    let batch = 50_000u64.min(flood_per_round);
    for round in 0..rounds {
        // Rotate which case goes first.
        for k in 0..3 {
            let case = (k + round as usize) % 3;
            eprintln!("wait: publish cost, round {round}, paced, case {case}");
            let name = format!("paced-{pid}-{round}-{case}");
            let hist = &mut paced_hist[case];
            if case == 2 {
                let w = uds_paced(&name, paced_per_round, cfg.gap, hist);
                waiter_stats[2].push(w);
                continue;
            }
            let mut s = WriterSession::open(&name, (case == 1).then_some("waiter"));
            paced(|seq, t| s.publish(seq, t), paced_per_round, cfg.gap, hist);
            if let Some(w) = s.finish() {
                waiter_stats[0].push(w);
            }
        }
        for k in 0..3 {
            let case = (k + round as usize) % 3;
            let reader = [None, Some("waiter"), Some("spinner")][case];
            eprintln!("wait: publish cost, round {round}, flood, reader: {reader:?}");
            let mut s = WriterSession::open(&format!("flood-{pid}-{round}-{case}"), reader);
            flood(&mut s, flood_per_round, batch, &mut flood_batches[case]);
            let w = s.finish();
            if case == 1 {
                waiter_stats[1].extend(w);
            }
        }
        // The clock reads alone, at the same pace.
        let warmup = (paced_per_round / 10).max(10);
        for i in 0..warmup + paced_per_round / 2 {
            std::thread::sleep(cfg.gap);
            let t0 = now_ns();
            let t = black_box(now_ns()) - t0;
            if i >= warmup {
                timer_hist.record(t.max(1)).expect("record");
            }
        }
    }

    // Element-wise mean of the readers' counts over the rounds.
    let mean_of = |v: &[Vec<f64>]| {
        let n = v.len().max(1) as f64;
        let width = v.iter().map(Vec::len).max().unwrap_or(0);
        (0..width)
            .map(|k| v.iter().filter_map(|w| w.get(k)).sum::<f64>() / n)
            .collect::<Vec<f64>>()
    };
    let hist_row = |case: &str, h, waiter| CostRow::from_hist(case.into(), h, waiter);
    let batch_row = |case: &str, v, waiter| CostRow::from_batches(case.into(), v, waiter);
    let [paced0, paced1, paced_uds] = &paced_hist;
    let [flood0, flood1, flood_spin] = &mut flood_batches;
    let mut rows = vec![
        hist_row("paced, 0 waiting readers", paced0, None),
        hist_row(
            "paced, 1 reader blocked in `wait` (asleep before every publish)",
            paced1,
            Some(mean_of(&waiter_stats[0])),
        ),
        hist_row(
            "reference: paced blocking `write` of a unix socket, 1 reader blocked in `read`",
            paced_uds,
            Some(mean_of(&waiter_stats[2])),
        ),
        hist_row("paced, the two clock reads alone", &timer_hist, None),
        batch_row("flood, 0 waiting readers", flood0, None),
        batch_row(
            "flood, 1 reader in a `wait` + `poll` loop",
            flood1,
            Some(mean_of(&waiter_stats[1])),
        ),
        batch_row(
            "control: flood, 1 reader busy-polling `poll` (no waiting)",
            flood_spin,
            None,
        ),
    ];
    for busy in [false, true] {
        eprintln!("wait: waiter side, other core busy: {busy}");
        rows.extend(waiter_side(
            &format!("side-{pid}-{busy}"),
            cfg.paced * 2,
            busy,
        ));
    }

    println!(
        "\npublish cost through the fleet API (`FleetWriter::publish_frame`, 64 B, 64-slot shm \
         ring), ns per publish; paced: one publish every {} µs, {} timed per case (p50/p99 of \
         single publishes, two clock reads included); flood: {} per case in batches of {batch}, \
         p50/p99 of the batches' ns per publish; waiter side: each call timed, two clock reads \
         included\n",
        cfg.gap.as_micros(),
        paced_per_round * rounds,
        flood_per_round * rounds
    );
    println!(
        "| case | min | p50 | p99 | mean | reader, per publish: wake-ups / sleeps / waits ≥ 0.4 µs |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        let reader = r.waiter.as_ref().map_or(String::new(), |counts| {
            let counts: Vec<String> = counts.iter().map(|c| format!("{c:.3}")).collect();
            counts.join(" / ")
        });
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {reader} |",
            r.case, r.min, r.p50, r.p99, r.mean
        );
    }
    println!(
        "\npaced, 1 waiter − 0 waiters (p50): {:.0} ns per publish; flood: {:.1} ns",
        rows[1].p50 - rows[0].p50,
        rows[5].p50 - rows[4].p50
    );
    write_csv("publish.csv", "case,min_ns,p50_ns,p99_ns,mean_ns", |out| {
        for r in &rows {
            let case = r.case.replace('"', "'");
            writeln!(out, "\"{case}\",{},{},{},{}", r.min, r.p50, r.p99, r.mean)?;
        }
        Ok(())
    });
}

// ---- part 3: the writer's side of the protocol, criterion --------------------------------

#[cfg(feature = "hooks")]
mod exclusive {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use criterion::{BenchmarkId, Criterion};
    use orbit_rs::{ExclusiveWriter, Head, Ring, Slot};

    /// Criterion's samples per benchmark.
    const SAMPLES: usize = 100;
    const PAYLOAD: [u8; 64] = [0xA5; 64];

    /// `iters` exclusive publishes, with (`notify`) or without the waiting protocol's writer
    /// side; the same loop either way.
    #[inline(never)]
    fn publish_loop(writer: &mut ExclusiveWriter<'_, 64>, notify: bool, iters: u64) -> Duration {
        let start = Instant::now();
        if notify {
            for _ in 0..iters {
                black_box(writer.publish(1, 0, black_box(&PAYLOAD)).unwrap());
            }
        } else {
            for _ in 0..iters {
                black_box(
                    writer
                        .publish_unnotified_for_bench(1, 0, black_box(&PAYLOAD))
                        .unwrap(),
                );
            }
        }
        start.elapsed()
    }

    fn median(v: &mut [f64]) -> f64 {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }

    pub(super) fn run(c: &mut Criterion, rounds: usize) {
        super::common::pin_cpu(super::PARENT_CPU);
        let slots: Vec<Slot<64>> = (0..1024).map(|_| Slot::new()).collect();
        let head = Head::new();
        let ring = Ring::new(&slots, &head).unwrap().with_kind(1);
        let mut writer = ring.exclusive_writer().unwrap();
        // Past the lease's first lap (its checked path) before anything is timed.
        publish_loop(&mut writer, true, 4096);

        // [notify][round]: criterion's median of the per-iteration sample times.
        let mut medians: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut group = c.benchmark_group("exclusive-publish/64B");
        group
            .sample_size(SAMPLES)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for round in 0..rounds {
            let order = if round % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for notify in order {
                let name = if notify { "publish" } else { "unnotified" };
                let mut times = Vec::new();
                group.bench_function(BenchmarkId::new(name, format!("r{round}")), |b| {
                    b.iter_custom(|iters| {
                        let t = publish_loop(&mut writer, notify, iters);
                        times.push(t.as_secs_f64() * 1e9 / iters as f64);
                        t
                    });
                });
                // The last SAMPLES calls are the measurement (the ones before, the warm-up).
                if times.len() >= SAMPLES {
                    let mut last = times.split_off(times.len() - SAMPLES);
                    medians[usize::from(notify)].push(median(&mut last));
                }
            }
        }
        group.finish();
        if medians[0].is_empty() || medians[1].is_empty() {
            return; // Filtered out.
        }

        // The interleaved probe: alternating batches, A B B A, one writer, one ring.
        const BATCH: u64 = 1_000_000;
        const PAIRS: usize = 40;
        let mut probe: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for pair in 0..PAIRS {
            let first = pair % 2 == 0;
            for notify in [first, !first] {
                let t = publish_loop(&mut writer, notify, BATCH);
                probe[usize::from(notify)].push(t.as_secs_f64() * 1e9 / BATCH as f64);
            }
        }

        println!(
            "\nExclusiveWriter::publish, 64 B, core ring of 1024 slots, no readers (ns per \
             publish)\n"
        );
        println!(
            "| measurement | with waiting (`publish`) | without (`publish_unnotified_for_bench`) | ratio |"
        );
        println!("|---|---:|---:|---:|");
        for (round, (&a, &b)) in medians[1].iter().zip(&medians[0]).enumerate() {
            println!(
                "| criterion median, round {round} | {a:.3} | {b:.3} | {:.3} |",
                a / b
            );
        }
        let mut ratios: Vec<f64> = medians[1]
            .iter()
            .zip(&medians[0])
            .map(|(a, b)| a / b)
            .collect();
        let ratio = median(&mut ratios);
        let (a, b) = (median(&mut medians[1]), median(&mut medians[0]));
        println!(
            "| criterion, median of the rounds (ratio: median of the rounds' ratios) | {a:.3} | \
             {b:.3} | **{ratio:.3}** |"
        );
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let (pa, pb) = (min(&probe[1]), min(&probe[0]));
        let (ma, mb) = (median(&mut probe[1]), median(&mut probe[0]));
        println!(
            "| interleaved probe, median of {PAIRS} batches of 1 M | {ma:.3} | {mb:.3} | {:.3} |",
            ma / mb
        );
        println!(
            "| interleaved probe, min of {PAIRS} batches | {pa:.3} | {pb:.3} | {:.3} |",
            pa / pb
        );
        println!(
            "\n#12 target, publish with waiting ≤ 1.03 × without: {ratio:.3} × → {}",
            if ratio <= 1.03 { "met" } else { "NOT met" }
        );
    }
}

// ---- driver ------------------------------------------------------------------------------

struct Config {
    wake_iters: u64,
    rounds: u64,
    gap: Duration,
    paced: u64,
    flood: u64,
}

fn write_csv(file: &str, header: &str, rows: impl FnOnce(&mut File) -> std::io::Result<()>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/wait");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| File::create(dir.join(file)))
        .and_then(|mut out| {
            writeln!(out, "{header}")?;
            rows(&mut out)
        });
    if let Err(e) = written {
        eprintln!("wait: could not write {file}: {e}");
    }
}

fn child(role: &str) {
    let name = env::var(NAME).expect("name");
    let count = env_u64(COUNT, 0);
    let gap = Duration::from_nanos(env_u64(GAP_NS, 0));
    let cpu = env_u64(CPU, CHILD_CPU as u64) as usize;
    match role {
        "publisher-orbit" => {
            let fleet = join(&name, 1);
            let mut writer = fleet
                .ring::<Msg>()
                .expect("ring")
                .exclusive_writer()
                .expect("lease");
            publish_paced(
                |seq, stamp| {
                    writer
                        .publish_frame(0, seq, &message(seq, stamp))
                        .expect("publish");
                },
                count,
                gap,
                cpu,
            );
        }
        "publisher-uds" => {
            let mut stream = UnixStream::connect(&name).expect("connect");
            publish_paced(
                |seq, stamp| stream.write_all(&message(seq, stamp)).expect("uds write"),
                count,
                gap,
                cpu,
            );
        }
        "uds-sink" => uds_sink(&name),
        "waiter" => reader_child(&name, false),
        "spinner" => reader_child(&name, true),
        "flooder" => flooder_child(&name),
        other => panic!("unknown role {other}"),
    }
}

fn main() {
    if let Ok(role) = env::var(CHILD) {
        child(&role);
        return;
    }
    let args: Vec<String> = env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // Test discovery: nothing to list.
    }
    // `cargo bench` passes `--bench`; anything else (`cargo test --benches`) is a smoke run.
    let scale = if args.iter().any(|a| a == "--bench") {
        1
    } else {
        100
    };
    let cfg = Config {
        wake_iters: (env_u64("ORBIT_WAIT_ITERS", 20_000) / scale).max(10),
        rounds: env_u64("ORBIT_WAIT_ROUNDS", 4).max(1),
        gap: Duration::from_micros(env_u64("ORBIT_WAIT_GAP_US", 300)),
        paced: (env_u64("ORBIT_WAIT_PACED", 6_000) / scale).max(10),
        flood: (env_u64("ORBIT_WAIT_FLOOD", 1_000_000) / scale).max(1_000),
    };
    let parts = env::var("ORBIT_WAIT_PARTS").unwrap_or_else(|_| "wake,cost,publish".into());
    let part = |p: &str| parts.split(',').any(|x| x.trim() == p);
    println!(
        "membarrier(GLOBAL_EXPEDITED) available to waiters: {}",
        membarrier_global_expedited()
    );
    if part("wake") {
        wake_latency(&cfg);
    }
    if part("cost") {
        publish_cost(&cfg);
    }
    if part("publish") {
        #[cfg(feature = "hooks")]
        {
            let mut c = criterion::Criterion::default().configure_from_args();
            let rounds = env_u64("ORBIT_WAIT_CRITERION_ROUNDS", 4).max(1) as usize;
            exclusive::run(&mut c, rounds);
            c.final_summary();
        }
        #[cfg(not(feature = "hooks"))]
        println!(
            "\npart 3 (publish with and without the waiting protocol) needs the `hooks` \
             feature: cargo bench --manifest-path benches/suite/Cargo.toml --features hooks \
             --bench wait"
        );
    }
}

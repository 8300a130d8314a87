//! Shared pieces of the benches: the "floor" ring, thread pinning, the idle strategy every
//! reader uses, and a session runner that times writer and reader threads.
//!
//! Not a bench target of its own: every bench includes it with `mod common;`. Each uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::thread;
use std::time::{Duration, Instant};

/// Slots per ring (or channel capacity) everywhere capacity is meaningful.
pub const CAPACITY: usize = 1024;

/// The payload size of the throughput, fan-out, contention and latency benches.
pub const PAYLOAD: usize = 64;

/// A `PAYLOAD`-byte frame whose first 8 bytes carry a sequence number or time stamp.
pub type Payload = [u8; PAYLOAD];

/// A payload carrying `stamp` in its first word; the rest is a fixed pattern.
#[inline]
pub fn payload(stamp: u64) -> Payload {
    let mut p = [0xA5u8; PAYLOAD];
    p[..8].copy_from_slice(&stamp.to_ne_bytes());
    p
}

/// The stamp carried by [`payload`].
#[inline]
pub fn stamp_of(bytes: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[..8]);
    u64::from_ne_bytes(raw)
}

/// What a reader does with a delivered payload. Every reader ends up with the bytes in its own
/// memory (orbit, the floor, tokio, crossbeam and bus copy by design; for disruptor, which hands
/// out references into the ring, the bench copies the event first).
#[inline]
/// Receives until `recv` comes back empty, handing every frame to `take`; returns how many.
pub fn drain(mut recv: impl FnMut() -> Option<Payload>, mut take: impl FnMut(&Payload)) -> u64 {
    let mut delivered = 0;
    while let Some(v) = recv() {
        take(&v);
        delivered += 1;
    }
    delivered
}

/// Drains a tokio broadcast receiver: every frame goes to `take`; returns (delivered, lost).
pub fn drain_tokio(
    rx: &mut tokio::sync::broadcast::Receiver<Payload>,
    mut take: impl FnMut(&Payload),
) -> (u64, u64) {
    use tokio::sync::broadcast::error::TryRecvError;
    let (mut delivered, mut lost) = (0u64, 0u64);
    loop {
        match rx.try_recv() {
            Ok(v) => {
                take(&v);
                delivered += 1;
            }
            Err(TryRecvError::Lagged(n)) => lost += n,
            Err(_) => return (delivered, lost),
        }
    }
}

pub fn consume(bytes: &[u8]) {
    black_box(bytes);
}

// --- pinning ---------------------------------------------------------------------------------

/// Pins the calling thread to core `index` (modulo the number of cores). Returns false if the
/// platform refused.
pub fn pin(index: usize) -> bool {
    match core_affinity::get_core_ids() {
        Some(ids) if !ids.is_empty() => core_affinity::set_for_current(ids[index % ids.len()]),
        _ => false,
    }
}

/// Pins the calling thread to CPU `id` by number, not through `get_core_ids`: that lists only
/// the CPUs of the current mask, which a child process inherits from its already-pinned
/// parent (the cross-process benches pin parent and child to different CPUs).
pub fn pin_cpu(id: usize) {
    let _ = core_affinity::set_for_current(core_affinity::CoreId { id });
}

/// The core writers use (the criterion thread runs there too).
pub const WRITER_CORE: usize = 0;
/// The core readers use: "the other core" on this 2-core machine.
pub const READER_CORE: usize = 1;

// --- idle strategy ---------------------------------------------------------------------------

/// What a reader does after a poll that found nothing: a `spin_loop` hint, and, when several
/// threads share a core, a `yield_now` every `yield_every` empty polls so the others run.
pub struct Idle {
    empty: u32,
    yield_every: u32,
}

impl Idle {
    /// Spin only: the reader has its core to itself.
    pub const fn spin() -> Self {
        Self {
            empty: 0,
            yield_every: u32::MAX,
        }
    }

    /// Spin, and yield every 64 empty polls: the reader shares its core.
    pub const fn shared() -> Self {
        Self {
            empty: 0,
            yield_every: 64,
        }
    }

    /// Picks [`Idle::spin`] for a lone reader, [`Idle::shared`] otherwise.
    pub const fn for_readers(readers_on_core: usize) -> Self {
        if readers_on_core > 1 {
            Self::shared()
        } else {
            Self::spin()
        }
    }

    /// Called after a poll; `got` is what it delivered or accounted.
    #[inline]
    pub fn after(&mut self, got: u64) {
        if got > 0 {
            self.empty = 0;
            return;
        }
        self.empty += 1;
        if self.empty >= self.yield_every {
            self.empty = 0;
            thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

// --- the floor -------------------------------------------------------------------------------

/// One slot of the floor ring: a seq word and `W` payload words (`#[repr(C, align(64))]`, like
/// orbit's `Slot`, so both occupy the same cache lines for the same payload).
#[repr(C, align(64))]
pub struct FloorSlot<const W: usize> {
    seq: AtomicU64,
    words: [AtomicU64; W],
}

/// The floor: the minimum a correct single-writer seqlock broadcast ring must do.
///
/// Writer: odd seq store, release fence, relaxed word stores, even seq release store.
/// Reader: acquire seq load, relaxed word loads, acquire fence, seq reload. No head word, no
/// CAS, no frame header, no validation; a reader that finds a later lap in its slot skips to
/// the oldest counter that lap leaves readable.
pub struct Floor<const W: usize> {
    slots: Box<[FloorSlot<W>]>,
    mask: u64,
}

impl<const W: usize> Floor<W> {
    /// A ring of `capacity` (a power of two) empty slots.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity.is_power_of_two());
        Self {
            slots: (0..capacity)
                .map(|_| FloorSlot {
                    seq: AtomicU64::new(0),
                    words: [const { AtomicU64::new(0) }; W],
                })
                .collect(),
            mask: capacity as u64 - 1,
        }
    }

    /// Bytes of slot memory per slot.
    pub const SLOT_BYTES: usize = size_of::<FloorSlot<W>>();

    /// The (only) writer, starting at counter 0. Create one per ring.
    pub fn writer(&self) -> FloorWriter<'_, W> {
        FloorWriter {
            ring: self,
            next: 0,
        }
    }

    /// A reader that starts at counter `next`.
    pub fn reader(&self, next: u64) -> FloorReader<'_, W> {
        FloorReader {
            ring: self,
            next,
            buf: [0; W],
        }
    }

    #[inline]
    fn slot(&self, counter: u64) -> &FloorSlot<W> {
        &self.slots[(counter & self.mask) as usize]
    }
}

/// The floor's single writer (owns the counter: no head word, no RMW).
pub struct FloorWriter<'a, const W: usize> {
    ring: &'a Floor<W>,
    next: u64,
}

impl<const W: usize> FloorWriter<'_, W> {
    /// Publishes `payload` (at most `8 * W` bytes; whole words).
    #[inline]
    pub fn publish(&mut self, payload: &[u8]) {
        let counter = self.next;
        self.next += 1;
        let slot = self.ring.slot(counter);
        slot.seq.store(2 * counter + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (word, chunk) in slot.words.iter().zip(payload.chunks_exact(8)) {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(chunk);
            word.store(u64::from_ne_bytes(raw), Ordering::Relaxed);
        }
        slot.seq.store(2 * counter + 2, Ordering::Release);
    }

    /// The next counter this writer will publish.
    pub fn next(&self) -> u64 {
        self.next
    }
}

/// A floor reader: its next counter and a private copy buffer.
pub struct FloorReader<'a, const W: usize> {
    ring: &'a Floor<W>,
    next: u64,
    buf: [u64; W],
}

impl<const W: usize> FloorReader<'_, W> {
    /// Delivers every committed frame from the cursor on; returns `(delivered, lost)`.
    #[inline]
    pub fn poll(&mut self, mut visit: impl FnMut(&[u8])) -> (u64, u64) {
        let (mut delivered, mut lost) = (0, 0);
        loop {
            let slot = self.ring.slot(self.next);
            let want = 2 * self.next + 2;
            let before = slot.seq.load(Ordering::Acquire);
            if before < want {
                break; // Not written yet (or being written): the end of the stream.
            }
            if before > want {
                // A later lap holds the slot: everything up to that lap's window is gone.
                let held = (before - 1) / 2;
                let oldest = held + 1 - (self.ring.mask + 1);
                lost += oldest - self.next;
                self.next = oldest;
                continue;
            }
            for (dst, word) in self.buf.iter_mut().zip(&slot.words) {
                *dst = word.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) != before {
                continue; // Overwritten during the copy: the next look sees the later lap.
            }
            visit(bytemuck::cast_slice(&self.buf));
            delivered += 1;
            self.next += 1;
        }
        (delivered, lost)
    }

    /// The next counter this reader wants.
    pub fn next(&self) -> u64 {
        self.next
    }
}

// --- sessions: timed writer and reader threads -------------------------------------------------

/// What one reader accounted for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Frames delivered to this reader.
    pub delivered: u64,
    /// Frames this reader was told it lost (or that never arrived, for the tail of an abandoned
    /// multi-writer stream).
    pub lost: u64,
}

/// The outcome of one session.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// From the start signal to the last reader's last frame.
    pub elapsed: Duration,
    /// Summed over readers.
    pub delivered: u64,
    /// Summed over readers.
    pub lost: u64,
    /// Publishes the writers reported as refused (orbit's `SlotBusy` / `Lapped`).
    pub abandoned: u64,
}

/// Totals over every session of one benchmark, printed when it finishes.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub sessions: u64,
    pub published: u64,
    pub delivered: u64,
    pub lost: u64,
    pub abandoned: u64,
    pub elapsed: Duration,
}

impl Tally {
    pub fn add(&mut self, published: u64, outcome: &Outcome) {
        self.sessions += 1;
        self.published += published;
        self.delivered += outcome.delivered;
        self.lost += outcome.lost;
        self.abandoned += outcome.abandoned;
        self.elapsed += outcome.elapsed;
    }

    /// Prints the totals (stdout, next to criterion's own lines) and appends them as one JSON
    /// line to `benches/suite/target/criterion/orbit-counts.jsonl`, which
    /// `scripts/plot_benches.py` reads.
    pub fn report(&self, id: &str) {
        if self.sessions == 0 {
            return; // Filtered out on the command line.
        }
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let lost_pct = 100.0 * self.lost as f64 / (self.delivered + self.lost).max(1) as f64;
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load = load.split_whitespace().next().unwrap_or("?").to_string();
        println!(
            "{id:<40} sessions {:>4}  published {:>11}  delivered {:>11}  lost {:>10} ({lost_pct:>5.2}%)  abandoned {:>8}  delivered/s {:>7.2} M  (load {load})",
            self.sessions,
            self.published,
            self.delivered,
            self.lost,
            self.abandoned,
            self.delivered as f64 / secs / 1e6
        );
        let line = format!(
            "{{\"id\":\"{id}\",\"sessions\":{},\"published\":{},\"delivered\":{},\"lost\":{},\"abandoned\":{},\"seconds\":{secs:.6}}}\n",
            self.sessions, self.published, self.delivered, self.lost, self.abandoned
        );
        let dir = criterion_dir();
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("orbit-counts.jsonl"))
        {
            use std::io::Write;
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// Criterion's output directory (`$CARGO_TARGET_DIR/criterion`, default
/// `benches/suite/target/criterion`).
pub fn criterion_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// A reader thread's body: `poll` drains what is available and returns `(delivered, lost)`.
pub type ReaderFn<'a> = Box<dyn FnMut() -> (u64, u64) + Send + 'a>;
/// A writer thread's body: publishes its share and returns how many publishes were refused.
pub type WriterFn<'a> = Box<dyn FnOnce() -> u64 + Send + 'a>;

/// Runs `writers` and `readers` on their own threads and times them.
///
/// Writer `i` is pinned to core `i % cores` (writer 0 on [`WRITER_CORE`]), every reader to
/// [`READER_CORE`]. All threads wait for one start flag; the clock starts when it is raised and
/// stops when the last thread is done: a writer when it has published its share, a reader when
/// it has accounted for `expected` frames, or, once every writer has
/// finished, when a reader's polls have come back empty `drain_polls` times in a row (the tail
/// of a multi-writer stream whose last counters were abandoned never commits; what is missing
/// then is counted as lost).
pub fn session(
    writers: Vec<WriterFn<'_>>,
    readers: Vec<ReaderFn<'_>>,
    expected: u64,
    idle: fn() -> Idle,
) -> Outcome {
    let start_flag = AtomicBool::new(false);
    let ready = AtomicUsize::new(0);
    let writers_left = AtomicUsize::new(writers.len());
    let threads = writers.len() + readers.len();
    let cores = core_affinity::get_core_ids().map_or(1, |ids| ids.len().max(1));
    let drain_polls: u32 = 1000;
    thread::scope(|s| {
        let start_flag = &start_flag;
        let ready = &ready;
        let writers_left = &writers_left;
        let wait_start = move || {
            ready.fetch_add(1, Ordering::AcqRel);
            while !start_flag.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
        };
        let writer_handles: Vec<_> = writers
            .into_iter()
            .enumerate()
            .map(|(i, write)| {
                s.spawn(move || {
                    pin((WRITER_CORE + i) % cores);
                    wait_start();
                    let abandoned = write();
                    let done = Instant::now();
                    writers_left.fetch_sub(1, Ordering::AcqRel);
                    (abandoned, done)
                })
            })
            .collect();
        let reader_handles: Vec<_> = readers
            .into_iter()
            .map(|mut poll| {
                s.spawn(move || {
                    pin(READER_CORE);
                    wait_start();
                    let mut counts = Counts::default();
                    let mut idle = idle();
                    let mut empty_after_done = 0u32;
                    while counts.delivered + counts.lost < expected {
                        let (delivered, lost) = poll();
                        counts.delivered += delivered;
                        counts.lost += lost;
                        let got = delivered + lost;
                        if got == 0 && writers_left.load(Ordering::Acquire) == 0 {
                            empty_after_done += 1;
                            if empty_after_done >= drain_polls {
                                counts.lost += expected - (counts.delivered + counts.lost);
                                break;
                            }
                        } else if got > 0 {
                            empty_after_done = 0;
                        }
                        idle.after(got);
                    }
                    (counts, Instant::now())
                })
            })
            .collect();
        while ready.load(Ordering::Acquire) < threads {
            thread::yield_now();
        }
        let start = Instant::now();
        start_flag.store(true, Ordering::Release);
        let mut outcome = Outcome::default();
        let mut end = start;
        for h in writer_handles {
            let (abandoned, done) = h.join().expect("writer thread");
            outcome.abandoned += abandoned;
            end = end.max(done);
        }
        for h in reader_handles {
            let (counts, done) = h.join().expect("reader thread");
            outcome.delivered += counts.delivered;
            outcome.lost += counts.lost;
            end = end.max(done);
        }
        outcome.elapsed = end.duration_since(start);
        outcome
    })
}

/// Scales a session's time so that criterion's per-iteration time is the time per *delivered*
/// frame: `elapsed * iters / delivered` (the session may have published more than `iters`
/// frames). Criterion's throughput (elements = 1) then reads as delivered frames per second.
pub fn per_delivered(outcome: &Outcome, iters: u64) -> Duration {
    let delivered = outcome.delivered.max(1);
    let nanos = outcome.elapsed.as_nanos() * u128::from(iters) / u128::from(delivered);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

// --- background readers for the publish benches --------------------------------------------

/// Reader threads that poll until dropped (stop flag), pinned to [`READER_CORE`]; used while
/// criterion measures the writer on [`WRITER_CORE`].
pub struct Background<'scope> {
    stop: &'scope AtomicBool,
    handles: Vec<thread::ScopedJoinHandle<'scope, Counts>>,
}

impl<'scope> Background<'scope> {
    /// Starts one thread per reader body inside scope `s`; returns once all are polling.
    pub fn start<'env>(
        s: &'scope thread::Scope<'scope, 'env>,
        stop: &'scope AtomicBool,
        readers: Vec<ReaderFn<'scope>>,
    ) -> Self {
        let running = std::sync::Arc::new(AtomicUsize::new(0));
        let n = readers.len();
        let handles = readers
            .into_iter()
            .map(|mut poll| {
                let running = running.clone();
                s.spawn(move || {
                    pin(READER_CORE);
                    running.fetch_add(1, Ordering::AcqRel);
                    let mut counts = Counts::default();
                    let mut idle = Idle::for_readers(n);
                    while !stop.load(Ordering::Relaxed) {
                        let (delivered, lost) = poll();
                        counts.delivered += delivered;
                        counts.lost += lost;
                        idle.after(delivered + lost);
                    }
                    counts
                })
            })
            .collect();
        while running.load(Ordering::Acquire) < n {
            thread::yield_now();
        }
        Self { stop, handles }
    }

    /// Stops the readers and returns their summed counts.
    pub fn finish(self) -> Counts {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Counts::default();
        for h in self.handles {
            let c = h.join().expect("reader thread");
            total.delivered += c.delivered;
            total.lost += c.lost;
        }
        total
    }
}

// --- latency histogram ------------------------------------------------------------------------

/// A log-linear histogram of nanosecond latencies: 8 sub-buckets per power of two.
#[derive(Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    pub count: u64,
    pub sum_ns: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; 64 * 8],
            count: 0,
            sum_ns: 0,
        }
    }
}

impl Histogram {
    const SUB: u32 = 8;

    fn index(ns: u64) -> usize {
        if ns < u64::from(Self::SUB) {
            return ns as usize;
        }
        let log = 63 - ns.leading_zeros(); // >= 3
        let sub = (ns >> (log - 3)) & u64::from(Self::SUB - 1);
        ((log - 2) * Self::SUB) as usize + sub as usize
    }

    /// Lower bound of bucket `i`, in ns.
    fn lower(i: usize) -> u64 {
        let sub = Self::SUB as usize;
        if i < sub {
            return i as u64;
        }
        let log = (i / sub) as u32 + 2;
        let s = (i % sub) as u64;
        (1u64 << log) + (s << (log - 3))
    }

    pub fn record(&mut self, ns: u64) {
        let i = Self::index(ns).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.count += 1;
        self.sum_ns += u128::from(ns);
    }

    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.sum_ns += other.sum_ns;
    }

    /// The latency at quantile `q` (bucket lower bound).
    pub fn quantile(&self, q: f64) -> u64 {
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::lower(i);
            }
        }
        0
    }

    /// Writes the non-empty buckets and a few quantiles as JSON next to criterion's files for
    /// the benchmark (`benches/suite/target/criterion/latency_64B/<name>/orbit-latency.json` for
    /// group `latency/64B`), where `scripts/plot_benches.py` reads them.
    pub fn save(&self, group: &str, name: &str) {
        if self.count == 0 {
            return; // Filtered out on the command line.
        }
        let quantiles = [0.5, 0.9, 0.99, 0.999, 0.9999];
        let qs: Vec<String> = quantiles
            .iter()
            .map(|q| format!("\"{q}\":{}", self.quantile(*q)))
            .collect();
        let buckets: Vec<String> = self
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| format!("[{},{}]", Self::lower(i), n))
            .collect();
        let json = format!(
            "{{\"count\":{},\"mean_ns\":{:.1},\"quantiles_ns\":{{{}}},\"buckets\":[{}]}}\n",
            self.count,
            self.sum_ns as f64 / self.count.max(1) as f64,
            qs.join(","),
            buckets.join(",")
        );
        let dir = criterion_dir().join(group.replace('/', "_")).join(name);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("orbit-latency.json"), json);
        println!(
            "{group}/{name:<12} latency ns: p50 {} p90 {} p99 {} p99.9 {} p99.99 {} (n = {})",
            self.quantile(0.5),
            self.quantile(0.9),
            self.quantile(0.99),
            self.quantile(0.999),
            self.quantile(0.9999),
            self.count
        );
    }
}

//! The platform-independent half of the QEMU firmware test, shared by the Cortex-M program
//! (`main.rs` beside this file) and the RISC-V one (`examples/firmware-riscv/`, which includes
//! this file by path): the frames, the ring and its statics, what the interrupt does, the polling
//! phase with its accounting and verdict, and the async phase. A program supplies a
//! [`Platform`] (its periodic timer interrupt, `wfi`, semihosting output), calls [`interrupt`]
//! from its timer's handler and [`run`] from its entry point, and exits with `run`'s verdict.
//!
//! The interrupt publishes sensor-like frames into a `static` ring (16 slots × 64 B) while the
//! main loop polls it with a `Cursor`, checks every delivered frame and counts loss, and every
//! few polls publishes a frame of its own into the same ring. The interrupt fires every
//! thousands of instructions, so it preempts the main loop in the middle of polls and in the
//! middle of its publishes (both counted), and the main loop sometimes "processes" while more
//! frames arrive than the ring holds, so frames really are overwritten.
//!
//! After `TOTAL` interrupt frames the main loop stops the timer, polls once more, prints a
//! summary and passes iff every published frame was delivered or counted lost
//! (`delivered + overwritten + unavailable == published`, both writers together), the loss
//! counts equal the gaps in the delivered sequence numbers of the two writers, and no frame was
//! torn or out of order.
//!
//! Then (feature `critical-section`, the default) an async phase: a task `.await`s the ring
//! through a `RingSignal` that the interrupt's publishes wake, on a minimal executor that
//! sleeps (`wfi`) while the task is pending. It must be woken, receive or count every one of
//! `ASYNC_TOTAL` further frames, and never poll the ring without news.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

use orbit_rs::{Cursor, FrameRef, Head, Ring, Slot};

/// What the shared test needs from a machine.
pub trait Platform {
    /// The timer interrupt's period in the polling phase, in the platform's timer ticks:
    /// some thousands of instructions, so that it lands inside polls and publishes.
    const TICK: u32;
    /// Its slower period in the async phase (the task sleeps between frames).
    #[cfg(feature = "critical-section")]
    const ASYNC_TICK: u32;
    /// Starts the periodic timer interrupt (whose handler calls [`interrupt`]), every `period`
    /// timer ticks.
    fn start_timer(&mut self, period: u32);
    /// Stops it: no [`interrupt`] after this returns.
    fn stop_timer(&mut self);
    /// Sleeps until an interrupt (`wfi`).
    #[cfg(feature = "critical-section")]
    fn wait_for_interrupt(&mut self);
    /// Prints one line on the host (semihosting).
    fn print(&mut self, line: fmt::Arguments<'_>);
}

/// Frames the interrupt publishes in the polling phase.
const TOTAL: u32 = 20_000;
/// Frames it publishes in the async phase.
#[cfg(feature = "critical-section")]
const ASYNC_TOTAL: u32 = 200;
/// Every `PAUSE_EVERY`th poll, the main loop "processes" while the interrupt publishes
/// `PAUSE_FRAMES` frames: more than the ring holds, so the interrupt laps the cursor.
const PAUSE_FRAMES: u32 = 24;
const PAUSE_EVERY: u32 = 64;
const KIND: u8 = 7;
/// The main loop's own frames: their kind, and the bit that marks their sequence numbers.
const MAIN_KIND: u8 = 8;
const MAIN_BIT: u32 = 1 << 31;
/// The main loop publishes one frame every `MAIN_EVERY` polls.
const MAIN_EVERY: u32 = 3;
const PAYLOAD: usize = 64;

static SLOTS: [Slot<PAYLOAD>; 16] = [Slot::EMPTY; 16];
static HEAD: Head = Head::new();
/// The tasks awaiting the ring; the interrupt's publishes wake them.
#[cfg(feature = "critical-section")]
static SIGNAL: orbit_rs::RingSignal = orbit_rs::RingSignal::new();
/// Frames the interrupt publishes before it stops (raised for the async phase).
static LIMIT: AtomicU32 = AtomicU32::new(TOTAL);

// Written by the interrupt only (load + store: no CAS needed, thumbv6m and riscv32imc have none).
static PUBLISHED: AtomicU32 = AtomicU32::new(0);
static PUBLISH_ERRORS: AtomicU32 = AtomicU32::new(0);
static PREEMPTED_POLLS: AtomicU32 = AtomicU32::new(0);
static PREEMPTED_PUBLISHES: AtomicU32 = AtomicU32::new(0);
// Written by the main loop only: true while it is inside `Ring::poll`, or inside `Ring::publish`.
static IN_POLL: AtomicBool = AtomicBool::new(false);
static IN_PUBLISH: AtomicBool = AtomicBool::new(false);

fn ring() -> Ring<'static, PAYLOAD> {
    let ring = Ring::new(&SLOTS, &HEAD).expect("16 slots of 64 B is a valid ring");
    #[cfg(feature = "critical-section")]
    let ring = ring.with_signal(&SIGNAL);
    ring
}

/// A "sensor reading" derived from the sequence number and the sample index.
fn sample(seq: u32, i: u32) -> u32 {
    let x = seq.wrapping_mul(0x9E37_79B9) ^ i.wrapping_mul(0x85EB_CA6B);
    x ^ (x >> 15)
}

/// FNV-1a over `bytes`.
fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// `seq | 14 samples | checksum of the 60 bytes before it`, little endian.
fn frame(seq: u32) -> [u8; PAYLOAD] {
    let mut p = [0u8; PAYLOAD];
    p[..4].copy_from_slice(&seq.to_le_bytes());
    for i in 0..14 {
        let at = 4 + 4 * i as usize;
        p[at..at + 4].copy_from_slice(&sample(seq, i).to_le_bytes());
    }
    let sum = checksum(&p[..60]);
    p[60..].copy_from_slice(&sum.to_le_bytes());
    p
}

/// The timer interrupt's work: publish the next frame (until `LIMIT`), noting whether it
/// preempted the main loop inside a poll or a publish.
pub fn interrupt() {
    let seq = PUBLISHED.load(Relaxed);
    if seq >= LIMIT.load(Relaxed) {
        return;
    }
    if IN_POLL.load(Relaxed) {
        PREEMPTED_POLLS.store(PREEMPTED_POLLS.load(Relaxed) + 1, Relaxed);
    }
    if IN_PUBLISH.load(Relaxed) {
        PREEMPTED_PUBLISHES.store(PREEMPTED_PUBLISHES.load(Relaxed) + 1, Relaxed);
    }
    match ring().publish(KIND, u64::from(seq), &frame(seq)) {
        Ok(_) => PUBLISHED.store(seq + 1, Relaxed),
        Err(_) => PUBLISH_ERRORS.store(PUBLISH_ERRORS.load(Relaxed) + 1, Relaxed),
    }
}

/// One writer's frames as the main loop received them.
#[derive(Default)]
struct Stream {
    /// The sequence number expected next.
    next: u32,
    /// Sequence numbers skipped between delivered frames.
    gaps: u64,
}

impl Stream {
    /// Takes delivered sequence number `seq`; false if it is not after the previous one.
    fn take(&mut self, seq: u32) -> bool {
        if seq < self.next {
            return false;
        }
        self.gaps += u64::from(seq - self.next);
        self.next = seq + 1;
        true
    }

    /// Gaps including the sequence numbers after the last delivered one, of `published`.
    fn gaps_of(&self, published: u32) -> u64 {
        self.gaps + u64::from(published.saturating_sub(self.next))
    }
}

#[derive(Default)]
struct Stats {
    polls: u32,
    delivered: u64,
    overwritten: u64,
    unavailable: u64,
    /// Frames whose bytes do not match what was published for their sequence number.
    torn: u32,
    /// Frames not after the previous one (by counter, or by their writer's sequence number).
    out_of_order: u32,
    /// The interrupt's frames and the main loop's own.
    isr: Stream,
    main: Stream,
    /// The counter of the last delivered frame, plus one.
    next_counter: u64,
}

impl Stats {
    fn check(&mut self, got: FrameRef<'_>) {
        let p = got.payload;
        let seq = match p.get(..4) {
            Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => u32::MAX,
        };
        let (kind, stream) = if seq & MAIN_BIT != 0 {
            (MAIN_KIND, &mut self.main)
        } else {
            (KIND, &mut self.isr)
        };
        if p.len() != PAYLOAD
            || p[..] != frame(seq)[..]
            || got.version != u64::from(seq)
            || got.kind != kind
        {
            self.torn += 1;
            return;
        }
        if got.counter < self.next_counter || !stream.take(seq & !MAIN_BIT) {
            self.out_of_order += 1;
            return;
        }
        self.next_counter = got.counter + 1;
    }

    fn poll(&mut self, ring: &Ring<'_, PAYLOAD>, cursor: &mut Cursor) {
        IN_POLL.store(true, Relaxed);
        let poll = ring.poll(cursor, |f| self.check(f));
        IN_POLL.store(false, Relaxed);
        self.polls += 1;
        self.delivered += poll.delivered;
        self.overwritten += poll.loss.overwritten;
        self.unavailable += poll.loss.unavailable;
    }
}

/// Runs the test on `platform` (interrupts enabled, its timer stopped), prints the summary
/// lines and `PASS` or `FAIL`; returns whether it passed.
pub fn run<P: Platform>(platform: &mut P) -> bool {
    let ring = ring();
    let mut cursor = Cursor::from_start();
    let mut stats = Stats::default();
    let (mut main_published, mut main_errors) = (0u32, 0u32);

    platform.start_timer(P::TICK);
    while PUBLISHED.load(Relaxed) < TOTAL {
        stats.poll(&ring, &mut cursor);
        if stats.polls % MAIN_EVERY == 0 {
            let seq = main_published | MAIN_BIT;
            let payload = frame(seq);
            IN_PUBLISH.store(true, Relaxed);
            let published = ring.publish(MAIN_KIND, u64::from(seq), &payload);
            IN_PUBLISH.store(false, Relaxed);
            match published {
                Ok(_) => main_published += 1,
                Err(_) => main_errors += 1,
            }
        }
        if stats.polls % PAUSE_EVERY == 0 {
            let until = PUBLISHED
                .load(Relaxed)
                .saturating_add(PAUSE_FRAMES)
                .min(TOTAL);
            while PUBLISHED.load(Relaxed) < until {
                core::hint::spin_loop();
            }
        }
    }
    platform.stop_timer();
    stats.poll(&ring, &mut cursor);

    let isr_published = PUBLISHED.load(Relaxed);
    let published = u64::from(isr_published) + u64::from(main_published);
    let errors = PUBLISH_ERRORS.load(Relaxed) + main_errors;
    let lost = stats.overwritten + stats.unavailable;
    // Sequence numbers never delivered after the last delivered one are gaps too.
    let gaps = stats.isr.gaps_of(isr_published) + stats.main.gaps_of(main_published);
    platform.print(format_args!(
        "orbit-rs firmware: published={} (interrupt {}, main {}) delivered={} overwritten={} \
         unavailable={} torn={} out_of_order={} gaps={} publish_errors={} polls={} \
         preempted_polls={} preempted_publishes={} cursor={}",
        published,
        isr_published,
        main_published,
        stats.delivered,
        stats.overwritten,
        stats.unavailable,
        stats.torn,
        stats.out_of_order,
        gaps,
        errors,
        stats.polls,
        PREEMPTED_POLLS.load(Relaxed),
        PREEMPTED_PUBLISHES.load(Relaxed),
        cursor.next_counter(),
    ));
    let ok = stats.delivered + lost == published
        && stats.torn == 0
        && stats.out_of_order == 0
        && gaps == lost
        && errors == 0
        && cursor.next_counter() == published;
    #[cfg(feature = "critical-section")]
    let ok = ok && async_phase(platform, &ring, &mut cursor, &mut stats);
    platform.print(format_args!(
        "orbit-rs firmware: {}",
        if ok { "PASS" } else { "FAIL" }
    ));
    ok
}

/// Set by the task's waker (the interrupt wakes it through `SIGNAL`); cleared by the executor
/// before each poll of the task.
#[cfg(feature = "critical-section")]
static WOKEN: AtomicBool = AtomicBool::new(false);

#[cfg(feature = "critical-section")]
mod task_waker {
    use core::sync::atomic::Ordering::Relaxed;
    use core::task::{RawWaker, RawWakerVTable, Waker};

    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(core::ptr::null(), &VTABLE)
    }
    fn wake(_: *const ()) {
        super::WOKEN.store(true, Relaxed);
    }
    fn drop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);

    pub(super) fn waker() -> Waker {
        // SAFETY: the vtable's functions ignore the data pointer (null) and only store to an
        // atomic, so they are sound to call from any context, any number of times; clone
        // returns the same vtable, drop does nothing.
        unsafe { Waker::from_raw(RawWaker::new(core::ptr::null(), &VTABLE)) }
    }
}

/// The async phase: the interrupt publishes `ASYNC_TOTAL` more frames, slowly; a task awaits
/// `SIGNAL` and polls only when woken with news. Returns whether it passed.
#[cfg(feature = "critical-section")]
fn async_phase<P: Platform>(
    platform: &mut P,
    ring: &Ring<'static, PAYLOAD>,
    cursor: &mut Cursor,
    stats: &mut Stats,
) -> bool {
    use core::future::Future;
    use core::task::{Context, Poll as TaskPoll};

    let start = PUBLISHED.load(Relaxed);
    let before = stats.delivered + stats.overwritten + stats.unavailable;
    let mut sleeps = 0u32;
    let task = async {
        let (mut accounted, mut polls_without_news) = (0u64, 0u32);
        while accounted < u64::from(ASYNC_TOTAL) {
            SIGNAL.wait(ring, cursor).await;
            let (delivered_before, lost_before) =
                (stats.delivered, stats.overwritten + stats.unavailable);
            stats.poll(ring, cursor);
            let got = stats.delivered - delivered_before + stats.overwritten + stats.unavailable
                - lost_before;
            if got == 0 {
                polls_without_news += 1;
            }
            accounted += got;
        }
        polls_without_news
    };
    LIMIT.store(start + ASYNC_TOTAL, Relaxed);
    platform.start_timer(P::ASYNC_TICK);
    let waker = task_waker::waker();
    let mut cx = Context::from_waker(&waker);
    let mut task = core::pin::pin!(task);
    let polls_without_news = loop {
        WOKEN.store(false, Relaxed);
        if let TaskPoll::Ready(polls_without_news) = task.as_mut().poll(&mut cx) {
            break polls_without_news;
        }
        // Sleep until the waker runs (a timer interrupt that publishes wakes the task; one
        // that does not just ends the `wfi`).
        while !WOKEN.load(Relaxed) {
            sleeps += 1;
            platform.wait_for_interrupt();
        }
    };
    platform.stop_timer();
    let published = PUBLISHED.load(Relaxed) - start;
    let accounted = stats.delivered + stats.overwritten + stats.unavailable - before;
    platform.print(format_args!(
        "orbit-rs firmware async: published={} accounted={} async_sleeps={} \
         polls_without_news={} torn={}",
        published, accounted, sleeps, polls_without_news, stats.torn,
    ));
    published == ASYNC_TOTAL
        && accounted == u64::from(ASYNC_TOTAL)
        && sleeps > 0
        && polls_without_news == 0
        && stats.torn == 0
        && stats.out_of_order == 0
}

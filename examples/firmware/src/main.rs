//! orbit-rs on a Cortex-M under QEMU: the SysTick interrupt publishes sensor-like frames into a
//! `static` ring (16 slots × 64 B) while `main` polls it with a `Cursor`, checks every delivered
//! frame and counts loss, and every few polls publishes a frame of its own into the same ring.
//! SysTick fires every thousand-odd instructions, so it preempts `main` in the middle of polls
//! and in the middle of `main`'s publishes (both counted), and `main` sometimes "processes"
//! while more frames arrive than the ring holds, so frames really are overwritten.
//!
//! After `TOTAL` interrupt frames `main` stops the timer, polls once more, prints a summary over
//! semihosting and exits with success iff every published frame was delivered or counted lost
//! (`delivered + overwritten + unavailable == published`, both writers together), the loss
//! counts equal the gaps in the delivered sequence numbers of the two writers, and no frame was
//! torn or out of order.
//!
//! Then (feature `critical-section`, the default) an async phase: a task `.await`s the ring
//! through a `RingSignal` that the interrupt's publishes wake, on a minimal executor that
//! sleeps (`wfi`) while the task is pending. It must be woken, receive or count every one of
//! `ASYNC_TOTAL` further frames, and never poll the ring without news.
//!
//! Run: `bash .ci/qemu.sh` from the repository root.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use orbit_rs::{Cursor, FrameRef, Head, Ring, Slot};
use panic_semihosting as _;

/// Frames the interrupt publishes in the polling phase.
const TOTAL: u32 = 20_000;
/// Frames it publishes in the async phase, and its slower period then (the task sleeps
/// between frames).
#[cfg(feature = "critical-section")]
const ASYNC_TOTAL: u32 = 200;
#[cfg(feature = "critical-section")]
const ASYNC_TICK: u32 = 20_000;
/// SysTick period in core clock ticks.
const TICK: u32 = 1_000;
/// Every `PAUSE_EVERY`th poll, `main` "processes" while the interrupt publishes `PAUSE_FRAMES`
/// frames: more than the ring holds, so the interrupt laps the cursor.
const PAUSE_FRAMES: u32 = 24;
const PAUSE_EVERY: u32 = 64;
const KIND: u8 = 7;
/// `main`'s own frames: their kind, and the bit that marks their sequence numbers.
const MAIN_KIND: u8 = 8;
const MAIN_BIT: u32 = 1 << 31;
/// `main` publishes one frame every `MAIN_EVERY` polls.
const MAIN_EVERY: u32 = 3;
const PAYLOAD: usize = 64;

static SLOTS: [Slot<PAYLOAD>; 16] = [Slot::EMPTY; 16];
static HEAD: Head = Head::new();
/// The tasks awaiting the ring; the interrupt's publishes wake them.
#[cfg(feature = "critical-section")]
static SIGNAL: orbit_rs::RingSignal = orbit_rs::RingSignal::new();
/// Frames the interrupt publishes before it stops (raised for the async phase).
static LIMIT: AtomicU32 = AtomicU32::new(TOTAL);

// Written by the interrupt only (load + store: no CAS needed, thumbv6m has none).
static PUBLISHED: AtomicU32 = AtomicU32::new(0);
static PUBLISH_ERRORS: AtomicU32 = AtomicU32::new(0);
static PREEMPTED_POLLS: AtomicU32 = AtomicU32::new(0);
static PREEMPTED_PUBLISHES: AtomicU32 = AtomicU32::new(0);
// Written by main only: true while main is inside `Ring::poll`, or inside `Ring::publish`.
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

#[exception]
fn SysTick() {
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

/// One writer's frames as `main` received them.
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
    /// The interrupt's frames and `main`'s own.
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

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().expect("first take");
    let ring = ring();
    let mut cursor = Cursor::from_start();
    let mut stats = Stats::default();
    let (mut main_published, mut main_errors) = (0u32, 0u32);

    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(TICK - 1);
    core.SYST.clear_current();
    core.SYST.enable_interrupt();
    core.SYST.enable_counter();

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
                cortex_m::asm::nop();
            }
        }
    }
    core.SYST.disable_interrupt();
    core.SYST.disable_counter();
    stats.poll(&ring, &mut cursor);

    let isr_published = PUBLISHED.load(Relaxed);
    let published = u64::from(isr_published) + u64::from(main_published);
    let errors = PUBLISH_ERRORS.load(Relaxed) + main_errors;
    let lost = stats.overwritten + stats.unavailable;
    // Sequence numbers never delivered after the last delivered one are gaps too.
    let gaps = stats.isr.gaps_of(isr_published) + stats.main.gaps_of(main_published);
    hprintln!(
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
    );
    let ok = stats.delivered + lost == published
        && stats.torn == 0
        && stats.out_of_order == 0
        && gaps == lost
        && errors == 0
        && cursor.next_counter() == published;
    #[cfg(feature = "critical-section")]
    let ok = ok && async_phase(&mut core, &ring, &mut cursor, &mut stats);
    hprintln!("orbit-rs firmware: {}", if ok { "PASS" } else { "FAIL" });
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
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
fn async_phase(
    core: &mut cortex_m::Peripherals,
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
    core.SYST.set_reload(ASYNC_TICK - 1);
    core.SYST.clear_current();
    core.SYST.enable_interrupt();
    core.SYST.enable_counter();
    let waker = task_waker::waker();
    let mut cx = Context::from_waker(&waker);
    let mut task = core::pin::pin!(task);
    let polls_without_news = loop {
        WOKEN.store(false, Relaxed);
        if let TaskPoll::Ready(polls_without_news) = task.as_mut().poll(&mut cx) {
            break polls_without_news;
        }
        // Sleep until the waker runs (a SysTick that publishes wakes the task; one that does
        // not just ends the `wfi`).
        while !WOKEN.load(Relaxed) {
            sleeps += 1;
            cortex_m::asm::wfi();
        }
    };
    core.SYST.disable_interrupt();
    core.SYST.disable_counter();
    let published = PUBLISHED.load(Relaxed) - start;
    let accounted = stats.delivered + stats.overwritten + stats.unavailable - before;
    hprintln!(
        "orbit-rs firmware async: published={} accounted={} async_sleeps={} \
         polls_without_news={} torn={}",
        published,
        accounted,
        sleeps,
        polls_without_news,
        stats.torn,
    );
    published == ASYNC_TOTAL
        && accounted == u64::from(ASYNC_TOTAL)
        && sleeps > 0
        && polls_without_news == 0
        && stats.torn == 0
        && stats.out_of_order == 0
}

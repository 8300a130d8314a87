//! [`RingSignal`]: tasks `.await` a ring in `static` memory — firmware without an allocator or
//! an OS — woken by whoever publishes: an interrupt handler or another task (feature
//! `critical-section`).
//!
//! Writers that publish through a [`Ring`] handle made [`with_signal`](Ring::with_signal)
//! wake the signal's tasks after each commit (and reset, and recovered slot). Protocol, on
//! every target:
//!
//! ```text
//! writer                                   task (future's poll)
//!   commit (Release store of the even seq)   news? ── yes → Ready
//!   SeqCst fence                             critical section: store the waker, armed = true
//!   if armed:                                SeqCst fence
//!       critical section: armed = false,     news? ── yes → Ready
//!       take the wakers; wake them           Pending
//! ```
//!
//! Either the writer's load of `armed` sees the task's store — and wakes it — or it does not,
//! and then (SeqCst fences on both sides) the task's second look sees the commit. On one core
//! an interrupt handler runs between two of the task's instructions: the same argument, with
//! program order for the fences. Writers pay one fence and one load while no task waits.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll as TaskPoll, Waker};

use crate::sync::{AtomicBool, Ordering, fence};

use super::{Cursor, PayloadSize, Ring, SupportedPayload};

/// Tasks one [`RingSignal`] keeps wakers for; a further task evicts (wakes) the oldest, which
/// registers again on its next poll.
pub const SIGNAL_TASKS: usize = 4;

/// Wakers of the tasks awaiting one ring (up to [`SIGNAL_TASKS`]), for firmware: lives in a
/// `static` next to the ring's slots and head, allocation-free.
///
/// # Examples
///
/// ```
/// use orbit_rs::{Cursor, Head, Ring, RingSignal, Slot};
/// # fn block_on<F: core::future::Future>(f: F) -> F::Output {
/// #     let waker = core::task::Waker::noop();
/// #     let mut cx = core::task::Context::from_waker(waker);
/// #     let mut f = core::pin::pin!(f);
/// #     loop { if let core::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
///
/// static SLOTS: [Slot<32>; 8] = [Slot::EMPTY; 8];
/// static HEAD: Head = Head::new();
/// static SIGNAL: RingSignal = RingSignal::new();
///
/// let ring = Ring::new(&SLOTS, &HEAD)?.with_signal(&SIGNAL); // writers wake SIGNAL's tasks
/// let mut cursor = ring.cursor_at_head();
/// ring.publish(1, 0, b"from an interrupt handler")?; // (here: the same thread)
/// block_on(SIGNAL.wait(&ring, &cursor)); // a task: `.await` it
/// assert_eq!(ring.poll(&mut cursor, |_| {}).delivered, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RingSignal {
    armed: AtomicBool,
    wakers: Wakers,
}

type WakerList = heapless::Vec<Waker, SIGNAL_TASKS>;

/// The wakers under a critical section (under loom: a loom mutex, which the model checker
/// sees).
#[cfg(not(loom))]
struct Wakers(critical_section::Mutex<core::cell::RefCell<WakerList>>);
#[cfg(loom)]
struct Wakers(loom::sync::Mutex<WakerList>);

impl Wakers {
    fn with<R>(&self, f: impl FnOnce(&mut WakerList) -> R) -> R {
        #[cfg(not(loom))]
        {
            critical_section::with(|cs| f(&mut self.0.borrow_ref_mut(cs)))
        }
        #[cfg(loom)]
        {
            f(&mut self.0.lock().unwrap())
        }
    }
}

impl Default for RingSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for RingSignal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RingSignal")
            .field("armed", &self.armed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RingSignal {
    /// A signal no task waits on.
    #[cfg(not(loom))]
    #[must_use]
    pub const fn new() -> Self {
        Self {
            armed: AtomicBool::new(false),
            wakers: Wakers(critical_section::Mutex::new(core::cell::RefCell::new(
                heapless::Vec::new(),
            ))),
        }
    }

    /// A signal no task waits on.
    #[cfg(loom)]
    #[must_use]
    pub fn new() -> Self {
        Self {
            armed: AtomicBool::new(false),
            wakers: Wakers(loom::sync::Mutex::new(heapless::Vec::new())),
        }
    }

    /// Completes when a poll of `cursor` on `ring` has something (a frame it has not seen,
    /// loss, a reset). `ring`'s writers must publish through handles made
    /// [`with_signal(self)`](Ring::with_signal), or nothing wakes the task.
    pub fn wait<'s, 'r, const N: usize>(
        &'s self,
        ring: &'r Ring<'r, N>,
        cursor: &'r Cursor,
    ) -> SignalWait<'s, 'r, N>
    where
        PayloadSize<N>: SupportedPayload,
    {
        SignalWait {
            signal: self,
            ring,
            cursor,
        }
    }

    /// The writer's side: wakes the waiting tasks, if any.
    #[inline]
    pub(crate) fn wake(&self) {
        // SYNC: SeqCst fence between the commit and the load of `armed`, pairing with the
        // task's fence between storing `armed` and its second look at the ring.
        if !crate::sync::mutant(crate::sync::mutants::NO_SIGNAL_FENCE) {
            fence(Ordering::SeqCst);
        }
        if self.armed.load(Ordering::Relaxed) {
            self.wake_all();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_all(&self) {
        let woken = self.wakers.with(|wakers| {
            self.armed.store(false, Ordering::Relaxed);
            core::mem::take(wakers)
        });
        for waker in woken {
            waker.wake();
        }
    }

    fn register(&self, waker: &Waker) {
        let evicted = self.wakers.with(|wakers| {
            self.armed.store(true, Ordering::Relaxed);
            if wakers.iter().any(|w| w.will_wake(waker)) {
                return None;
            }
            let evicted = if wakers.is_full() {
                Some(wakers.remove(0))
            } else {
                None
            };
            let _ = wakers.push(waker.clone());
            evicted
        });
        // SYNC: pairs with the writer's fence in wake().
        fence(Ordering::SeqCst);
        if let Some(evicted) = evicted {
            evicted.wake();
        }
    }
}

/// The future of [`RingSignal::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct SignalWait<'s, 'r, const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    signal: &'s RingSignal,
    ring: &'r Ring<'r, N>,
    cursor: &'r Cursor,
}

impl<const N: usize> core::fmt::Debug for SignalWait<'_, '_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignalWait")
            .field("cursor", self.cursor)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> Future for SignalWait<'_, '_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> TaskPoll<()> {
        if self.ring.has_news(self.cursor) {
            return TaskPoll::Ready(());
        }
        self.signal.register(cx.waker());
        if self.ring.has_news(self.cursor) {
            return TaskPoll::Ready(());
        }
        TaskPoll::Pending
    }
}

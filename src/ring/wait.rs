//! Waiting for news instead of spinning (hosted targets with `std`).
//!
//! Two words of the [`Head`](super::Head)'s second line carry the protocol: `waiters`, a flag
//! a reader sets before it sleeps and the writer that wakes it clears, and `wake`, the word
//! they sleep on (a `futex` on Linux, across processes). The parts, each proven in
//! `tests/loom_ring.rs` (`waiting_*` models and their must-fail controls):
//!
//! ```text
//! writer (every commit, reset, recovery)        waiter
//!   commit (Release store of the even seq)        news?  ── yes → Ready
//!   light barrier                                 seen = wake
//!   if waiters != 0:                              waiters = 1
//!       waiters = 0                               heavy barrier
//!       wake += 1                                 news?  ── yes → Ready
//!       futex wake all on `wake`                  sleep while wake == seen (≤ deadline), loop
//! ```
//!
//! * **No lost wake-up.** Either the writer's load of `waiters` sees the registration — then it
//!   clears it and bumps `wake`, and the waiter either read `seen` before the bump (the kernel
//!   refuses to sleep on a changed word, or the wake finds it queued) or after it, which puts
//!   the clear before the registration: the flag stays set for the next writer — or it does
//!   not, and then the barrier pair (see [`park`](crate::park)) guarantees the waiter's second
//!   look sees the commit. Reading `seen` before registering is what makes the clear safe: read
//!   after it, a writer could clear a registration whose waiter then sleeps on the bumped value
//!   past a later writer that finds the flag clear (`control_waiting_reading_the_wake_word_after_registering`).
//! * **A waiter that dies costs one wake, not one per publish for ever.** The flag is not a
//!   count a waiter must give back: the next writer clears what a SIGKILLed waiter left, pays
//!   one `futex` wake, and publishes stay syscall-free after it. A waiter woken without news
//!   sets the flag again before it sleeps again.
//! * **Writers pay nothing while nobody waits:** a compiler fence and one load of `waiters` on
//!   a line readers only read; the wake path is out of line.
//! * **News** is exactly "a poll now would deliver or count something, or report a reset": the
//!   waiter asks the read path itself, with a copy of its cursor (reads only, no stores).

use core::time::Duration;
use std::time::Instant;

use super::{Cursor, PayloadSize, Ring, SupportedPayload};
use crate::park;
use crate::sync::{Ordering, mutant, mutants};

/// How a [`Ring::wait`] (or a handle's `wait`) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a wait may time out"]
pub enum Waited {
    /// A poll now delivers or counts something, or reports a reset (or a move to a fresh
    /// segment).
    Ready,
    /// The timeout passed with nothing new for the cursor.
    TimedOut,
}

impl<const N: usize> Ring<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Wakes the ring's waiters if there are any: the writer's side, right after a commit (or a
    /// reset, or a recovered slot).
    #[inline(always)]
    pub(crate) fn notify_waiters(&self, registered: bool) {
        if park::WAKES {
            if registered {
                park::light_barrier_registered();
            } else {
                park::light_barrier();
            }
            if self.head.waiters.load(Ordering::Relaxed) != 0 {
                self.wake_waiters();
            }
        }
    }

    /// Wakes every waiter of the ring, registered or about to sleep: after the ring's segment
    /// was retired, and the slow path of [`notify_waiters`](Self::notify_waiters).
    #[cold]
    #[inline(never)]
    pub(crate) fn wake_waiters(&self) {
        // Take the registrations: a waiter this wakes registers again before it sleeps again.
        // SYNC: no ordering needed of its own: the bump below is sequenced after it, so a
        // waiter whose `seen` (Acquire) reads the bump registers after this clear, and its flag
        // stays set for the next writer.
        if !mutant(mutants::WAKE_KEEPS_REGISTRATIONS) {
            self.head.waiters.swap(0, Ordering::Relaxed);
        }
        // SYNC: Release: a waiter that sees the new value (and so does not sleep) sees the
        // commit that came before it.
        self.head.wake.fetch_add(1, Ordering::Release);
        park::wake_all(&self.head.wake);
    }

    /// Blocks until [`has_news`](Self::has_news) for `cursor` — a frame it has not seen is
    /// committed, it fell behind, or the ring was reset — or until `timeout` passes; returns at
    /// once if there is news already. Between threads and, for a ring in shared memory,
    /// across processes. The sleep costs no CPU; publishers pay a wake system call only while
    /// somebody waits.
    ///
    /// A counter whose writer stalled mid-write is not news: a reader that gives up on stuck
    /// writers (see [`Patience`](super::Patience)) bounds the wait by its patience (fleet rings do that
    /// themselves).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use orbit_rs::{OwnedRing, Waited};
    ///
    /// let ring = OwnedRing::<32>::new(8)?;
    /// let mut cursor = ring.ring().cursor_at_head();
    /// assert_eq!(ring.ring().wait(&cursor, Duration::from_millis(1)), Waited::TimedOut);
    ///
    /// let writer = ring.clone();
    /// let publisher = std::thread::spawn(move || writer.publish(1, 0, b"news"));
    /// assert_eq!(ring.ring().wait(&cursor, Duration::from_secs(10)), Waited::Ready);
    /// assert_eq!(ring.poll(&mut cursor, |_| {}).delivered, 1);
    /// publisher.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(&self, cursor: &Cursor, timeout: Duration) -> Waited {
        self.wait_for(Instant::now().checked_add(timeout), true, || {
            self.has_news(cursor)
        })
    }

    /// The waiting protocol with `news` as the question: blocks until it answers true or
    /// `deadline` (`None`: none) passes. `register` false: the ring's memory is read-only to
    /// this process (a read-policy observer), so it cannot register; it looks again every
    /// [`POLL_SLICE`](park::POLL_SLICE) instead.
    pub(crate) fn wait_for(
        &self,
        deadline: Option<Instant>,
        register: bool,
        mut news: impl FnMut() -> bool,
    ) -> Waited {
        loop {
            if news() {
                return Waited::Ready;
            }
            // A deadline already past ends here, before the registration and its barrier
            // (`membarrier` can cost microseconds while a writer runs).
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Waited::TimedOut;
            }
            // SYNC: Acquire pairs with the Release bump in wake_waiters(). Read before the
            // registration, never after it (see the module docs).
            let read_seen = || self.head.wake.load(Ordering::Acquire);
            let mut seen = (!mutant(mutants::WAKE_WORD_AFTER_RECHECK)
                && !mutant(mutants::WAKE_WORD_AFTER_REGISTER))
            .then(read_seen);
            if register {
                register_waiter(self);
            }
            let woken = register && park::heavy_barrier();
            if mutant(mutants::WAKE_WORD_AFTER_REGISTER) {
                seen = Some(read_seen());
            }
            if !mutant(mutants::NO_RECHECK_AFTER_REGISTER) && news() {
                return Waited::Ready;
            }
            let seen = *seen.get_or_insert_with(read_seen);
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Waited::TimedOut,
                },
                None => None,
            };
            // Without the barrier pair no wake is promised: look again every POLL_SLICE.
            let slice = if woken {
                left
            } else {
                Some(left.map_or(park::POLL_SLICE, |l| l.min(park::POLL_SLICE)))
            };
            park::sleep(&self.head.wake, seen, slice);
        }
    }
}

#[cfg(any(loom, feature = "__test-hooks"))]
impl<const N: usize> Ring<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// The ring's `waiters` flag (tests: a registration must not outlive its waiter past the
    /// next commit).
    #[doc(hidden)]
    pub fn waiting_flag_for_test(&self) -> u32 {
        self.head.waiters.load(Ordering::Relaxed)
    }
}

/// Sets the ring's `waiters` flag: the next writer wakes the ring's sleepers (and clears it).
fn register_waiter<const N: usize>(ring: &Ring<'_, N>)
where
    PayloadSize<N>: SupportedPayload,
{
    // SYNC: SeqCst RMW, then the heavy barrier: the first half of the store→load pairing with
    // the writer's commit and light barrier.
    ring.head.waiters.fetch_or(1, Ordering::SeqCst);
}

//! Sleeping until a shared 32-bit word changes, and the barrier pair of the waiting protocol
//! (`ring/wait.rs`). The one place that makes the system calls waiting needs.
//!
//! | where | sleep / wake | writer's barrier (light) | waiter's barrier (heavy) |
//! |---|---|---|---|
//! | Linux | `futex` on the word itself (not private: across processes) | compiler fence in a process registered for `membarrier`, else a SeqCst fence | `membarrier(GLOBAL_EXPEDITED)` |
//! | Linux, `membarrier` refused | as above | SeqCst fence | none: the waiter re-checks at least every [`POLL_SLICE`] |
//! | other hosts | none: the waiter re-checks every [`POLL_SLICE`] | none | none |
//! | loom | a Mutex/Condvar model of the futex | SeqCst fence | SeqCst fence |
//! | Miri | `futex` (Miri implements it) | SeqCst fence | SeqCst fence |
//!
//! **Why two barriers.** A writer stores its commit and then loads the waiter count; a waiter
//! adds itself to the count and then looks at the ring. Without a store→load barrier on both
//! sides each can miss the other (store buffering) and the waiter sleeps through the commit.
//! A SeqCst fence on the writer would cost every publish ~10–30 cycles, so the writer's side is
//! only a compiler fence and the waiter pays instead: `membarrier(GLOBAL_EXPEDITED)` makes
//! every running thread of every process registered with
//! `MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED` execute a full barrier before it returns, so a
//! registered writer's compiler fence acts as a full fence against it (the asymmetric-fence
//! pairing: either the writer's load sees the waiter's registration, or the waiter's look
//! after `membarrier` sees the commit). A writer process registers on its first commit that
//! checks for waiters; until registration succeeds it uses a real SeqCst fence.
#![allow(unsafe_code)]

use core::time::Duration;

use crate::sync::AtomicU32;

/// The longest a waiter sleeps without looking at the ring where no wake can reach it (no
/// `futex`, or `membarrier` refused): the wake latency it then falls back to.
pub(crate) const POLL_SLICE: Duration = Duration::from_millis(1);

/// True where a writer's wake reaches a sleeping waiter (so writers must notify).
pub(crate) const WAKES: bool = cfg!(any(loom, target_os = "linux"));

/// The writer's half of the barrier pair, between its commit and its load of the waiter
/// count.
#[inline(always)]
pub(crate) fn light_barrier() {
    #[cfg(loom)]
    if !crate::sync::mutant(crate::sync::mutants::NO_WRITER_BARRIER) {
        crate::sync::fence(crate::sync::Ordering::SeqCst);
    }
    #[cfg(all(not(loom), target_os = "linux", not(miri)))]
    membarrier::light();
    #[cfg(all(not(loom), target_os = "linux", miri))]
    crate::sync::fence(crate::sync::Ordering::SeqCst);
}

/// Registers this process for the waiters' barrier if it is not yet; true if it is registered
/// (and stays so for its lifetime): a writer that got true may use
/// [`light_barrier_registered`] instead of [`light_barrier`]. False under loom and Miri, and
/// off Linux.
pub(crate) fn register_writer() -> bool {
    #[cfg(all(not(loom), target_os = "linux", not(miri)))]
    {
        membarrier::register()
    }
    #[cfg(not(all(not(loom), target_os = "linux", not(miri))))]
    {
        false
    }
}

/// [`light_barrier`] for a writer that [`register_writer`] told it is registered: only the
/// compiler must keep the commit before the load of the waiter count.
#[inline(always)]
pub(crate) fn light_barrier_registered() {
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
}

/// The waiter's half, between its registration and its look at the ring. Returns false if it
/// could not order itself against writers (`membarrier` refused): the waiter must then not
/// rely on being woken, and re-check at least every [`POLL_SLICE`].
#[must_use]
pub(crate) fn heavy_barrier() -> bool {
    #[cfg(loom)]
    {
        crate::sync::fence(crate::sync::Ordering::SeqCst);
        true
    }
    #[cfg(all(not(loom), target_os = "linux", not(miri)))]
    {
        membarrier::heavy()
    }
    #[cfg(all(not(loom), target_os = "linux", miri))]
    {
        crate::sync::fence(crate::sync::Ordering::SeqCst);
        true
    }
    #[cfg(all(not(loom), not(target_os = "linux")))]
    {
        false
    }
}

/// Sleeps while `word` holds `expected`, at most `timeout` (`None`: until woken). May return
/// early (a wake, a signal, a changed word): callers look again.
pub(crate) fn sleep(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    #[cfg(loom)]
    {
        let _ = timeout;
        loom_futex::wait(word, expected);
    }
    #[cfg(all(not(loom), target_os = "linux"))]
    futex::wait(word, expected, timeout);
    #[cfg(all(not(loom), not(target_os = "linux")))]
    {
        let _ = (word, expected);
        std::thread::sleep(timeout.unwrap_or(POLL_SLICE).min(POLL_SLICE));
    }
}

/// Wakes every thread sleeping on `word`, in any process.
pub(crate) fn wake_all(word: &AtomicU32) {
    #[cfg(loom)]
    loom_futex::wake_all(word);
    #[cfg(all(not(loom), target_os = "linux"))]
    futex::wake_all(word);
    #[cfg(all(not(loom), not(target_os = "linux")))]
    let _ = word;
}

#[cfg(all(not(loom), target_os = "linux"))]
mod futex {
    use core::time::Duration;

    use crate::sync::AtomicU32;

    // `c_long` is 32 bits on 32-bit Linux: the conversions are fallible there.
    #[allow(clippy::unnecessary_fallible_conversions)]
    pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        let timespec = timeout.map(|t| libc::timespec {
            tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::try_from(t.subsec_nanos()).unwrap_or(0),
        });
        let timeout_ptr = timespec
            .as_ref()
            .map_or(core::ptr::null(), core::ptr::from_ref);
        // SAFETY: `word` is a live, aligned 32-bit atomic for the duration of the call (the
        // kernel only reads it, atomically, and compares it with `expected`); `timeout_ptr` is
        // null or points to a timespec that outlives the call. FUTEX_WAIT without the private
        // flag keys the wait on the word's backing page, so waiters in other processes that map
        // it are woken too. Errors (EAGAIN: the word changed; EINTR; ETIMEDOUT) all mean
        // "look again", which every caller does.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                timeout_ptr,
            );
        }
    }

    pub(super) fn wake_all(word: &AtomicU32) {
        // SAFETY: `word` is a live, aligned 32-bit atomic; FUTEX_WAKE does not access it, it
        // only wakes the threads queued on its address (non-private: in any process).
        unsafe {
            libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
        }
    }
}

#[cfg(all(not(loom), target_os = "linux", not(miri)))]
mod membarrier {
    use core::sync::atomic::{AtomicU8, Ordering, compiler_fence, fence};

    const CMD_QUERY: libc::c_int = 0;
    const CMD_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
    const CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

    const UNKNOWN: u8 = 0;
    const REGISTERED: u8 = 1;
    const UNAVAILABLE: u8 = 2;

    /// This process's registration for `GLOBAL_EXPEDITED` barriers (a writer's side).
    #[allow(clippy::disallowed_types)] // Process-local state, never shared memory.
    static WRITER: AtomicU8 = AtomicU8::new(UNKNOWN);

    fn call(cmd: libc::c_int) -> libc::c_long {
        // SAFETY: membarrier takes two integers and touches no user memory.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0) }
    }

    fn supported() -> bool {
        let mask = call(CMD_QUERY);
        mask >= 0
            && mask & libc::c_long::from(CMD_GLOBAL_EXPEDITED | CMD_REGISTER_GLOBAL_EXPEDITED)
                == libc::c_long::from(CMD_GLOBAL_EXPEDITED | CMD_REGISTER_GLOBAL_EXPEDITED)
    }

    #[inline(always)]
    pub(super) fn light() {
        if WRITER.load(Ordering::Relaxed) == REGISTERED {
            // A heavy barrier in any waiter makes this thread execute a full barrier: the
            // compiler must only keep the commit before the load in program order.
            compiler_fence(Ordering::SeqCst);
        } else {
            light_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn light_slow() {
        // Unregistered (yet), or registration refused: a real fence pairs with the waiter's.
        fence(Ordering::SeqCst);
        register();
    }

    /// Registers the process if that was not tried yet; true if it is registered.
    pub(super) fn register() -> bool {
        let state = match WRITER.load(Ordering::Relaxed) {
            UNKNOWN => {
                let registered = supported() && call(CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
                let state = if registered { REGISTERED } else { UNAVAILABLE };
                WRITER.store(state, Ordering::Relaxed);
                state
            }
            state => state,
        };
        state == REGISTERED
    }

    pub(super) fn heavy() -> bool {
        let ok = call(CMD_GLOBAL_EXPEDITED) == 0;
        // Orders this thread too (the system call does; the fence says so to the compiler and
        // covers a refused call, after which the caller falls back to re-checking anyway).
        fence(Ordering::SeqCst);
        ok
    }
}

/// The futex under loom. A sleeper checks the word under one lock, as the kernel does, and
/// blocks on a condition variable until a wake. A loom thread blocked forever would end the
/// model in an abort, not a failure a must-fail control can observe, so the model announces
/// when every thread that could wake a sleeper has finished
/// ([`wakers_done`](loom_futex::wakers_done)): a sleeper still asleep on an unchanged word
/// then panics, saying the wake-up was lost.
#[cfg(loom)]
pub(crate) mod loom_futex {
    use loom::sync::{Condvar, Mutex};

    use crate::sync::{AtomicU32, Ordering};

    /// Wakes so far, and whether the wakers are done.
    struct Queue {
        state: Mutex<(u64, bool)>,
        woken: Condvar,
    }

    loom::lazy_static! {
        static ref QUEUE: Queue = Queue { state: Mutex::new((0, false)), woken: Condvar::new() };
    }

    pub(super) fn wait(word: &AtomicU32, expected: u32) {
        let mut state = QUEUE.state.lock().unwrap();
        let entered = state.0;
        loop {
            // The kernel reads the word under the bucket lock, after a full barrier.
            if word.load(Ordering::SeqCst) != expected || state.0 != entered {
                return;
            }
            assert!(
                !state.1,
                "lost wake-up: asleep on an unchanged word with nobody left to wake it"
            );
            state = QUEUE.woken.wait(state).unwrap();
        }
    }

    pub(super) fn wake_all(_word: &AtomicU32) {
        QUEUE.state.lock().unwrap().0 += 1;
        QUEUE.woken.notify_all();
    }

    /// The model's writers have all finished: a sleeper still waiting now waits forever.
    pub fn wakers_done() {
        QUEUE.state.lock().unwrap().1 = true;
        QUEUE.woken.notify_all();
    }
}

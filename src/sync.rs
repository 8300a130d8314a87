//! The one place that names an atomics implementation.
//!
//! * `cfg(loom)`: loom's model-checked atomics (used by `tests/loom_ring.rs`);
//! * a target with native 64-bit atomics: `core::sync::atomic` (the `portable-atomic` and
//!   `critical-section` features change nothing there);
//! * a target without them (thumbv6m, thumbv7em, riscv32imc), one of two interrupt-safe ways,
//!   never a lock an interrupt handler could spin on:
//!   * feature `critical-section`: every 64-bit operation runs inside
//!     [`critical_section::with`] (single- or multi-core, whatever the application's
//!     `critical-section` implementation does);
//!   * feature `portable-atomic` with portable-atomic's single-core mode (`RUSTFLAGS="--cfg
//!     portable_atomic_unsafe_assume_single_core"`, which this crate sees too):
//!     `portable_atomic`, which disables interrupts around each 64-bit operation.
//!
//!   Anything else does not build. In particular `portable-atomic` alone would give
//!   portable-atomic's lock-based fallback on thumbv7em: an interrupt handler publishing while
//!   `main` holds that lock would spin forever.
//!
//! `clippy.toml` forbids naming the atomic types anywhere else in the crate.
#![allow(clippy::disallowed_types)]

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering, fence};

/// The waiting protocol's words (hosted targets, all of which have 32-bit atomics): a futex
/// word must be 32 bits.
#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU32;

/// A `RingSignal`'s armed flag: loads and stores only, which every target has natively.
#[cfg(all(loom, feature = "critical-section"))]
pub(crate) use loom::sync::atomic::AtomicBool;
#[cfg(all(not(loom), feature = "critical-section"))]
pub(crate) type AtomicBool = core::sync::atomic::AtomicBool;
#[cfg(all(not(loom), not(target_os = "none")))]
pub(crate) type AtomicU32 = core::sync::atomic::AtomicU32;

/// The atomic word slot payloads move in: `AtomicU64` where the target has 64-bit atomics
/// (and under loom), the native `AtomicU32` elsewhere (MCUs: plain word loads and stores, no
/// critical section per word). A copy is whole because the seq protocol brackets it (odd seq
/// and a Release fence before the first word, Acquire fence and seq recheck after the last),
/// whatever the width of the words in between. With feature `critical-section` the seq word
/// lives in a critical section, which the `critical-section` contract makes an Acquire on
/// entry and a Release on exit of one location all critical sections share: the payload stores
/// before a commit happen before the loads after a reader's seq load that saw it.
#[cfg(any(loom, target_has_atomic = "64"))]
pub(crate) type PayloadWord = AtomicU64;
/// The atomic word slot payloads move in (see the hosted definition).
#[cfg(not(any(loom, target_has_atomic = "64")))]
pub(crate) type PayloadWord = core::sync::atomic::AtomicU32;

// An alias, not a `use`: clippy's `disallowed-types` then flags only direct uses of core's type.
#[cfg(all(not(loom), target_has_atomic = "64"))]
pub(crate) type AtomicU64 = core::sync::atomic::AtomicU64;
#[cfg(all(not(loom), target_has_atomic = "64"))]
pub(crate) use core::sync::atomic::{Ordering, fence};

#[cfg(all(not(loom), not(target_has_atomic = "64"), feature = "critical-section"))]
pub(crate) use core::sync::atomic::{Ordering, fence};
#[cfg(all(not(loom), not(target_has_atomic = "64"), feature = "critical-section"))]
pub(crate) use critical::AtomicU64;

#[cfg(all(
    not(loom),
    not(target_has_atomic = "64"),
    not(feature = "critical-section"),
    feature = "portable-atomic",
    portable_atomic_unsafe_assume_single_core
))]
pub(crate) use portable_atomic::{AtomicU64, Ordering, fence};

#[cfg(all(
    not(loom),
    not(target_has_atomic = "64"),
    not(feature = "critical-section"),
    not(feature = "portable-atomic")
))]
compile_error!(
    "orbit-rs needs 64-bit atomics, which this target lacks. Enable ONE of: \
     (a) feature `critical-section` and link a `critical-section` implementation \
     (e.g. cortex-m's `critical-section-single-core`); \
     (b) feature `portable-atomic` on a single-core part with \
     RUSTFLAGS=\"--cfg portable_atomic_unsafe_assume_single_core\". \
     See the README's firmware section."
);

#[cfg(all(
    not(loom),
    not(target_has_atomic = "64"),
    not(feature = "critical-section"),
    feature = "portable-atomic",
    not(portable_atomic_unsafe_assume_single_core)
))]
compile_error!(
    "orbit-rs: feature `portable-atomic` on a target without 64-bit atomics needs \
     portable-atomic's single-core mode: RUSTFLAGS=\"--cfg portable_atomic_unsafe_assume_single_core\". \
     Without it portable-atomic falls back \
     to a global spin lock that deadlocks when an interrupt handler publishes while `main` \
     holds it. On a multi-core part use orbit-rs feature `critical-section` with a \
     `critical-section` implementation instead. See the README's firmware section."
);

/// 64-bit atomics as critical sections, for targets without native ones.
#[cfg(all(not(loom), not(target_has_atomic = "64"), feature = "critical-section"))]
mod critical {
    use core::cell::Cell;
    use core::sync::atomic::Ordering;

    use critical_section::Mutex;

    /// A drop-in for `AtomicU64`: each operation is one `critical_section::with`. Every
    /// operation is therefore sequentially consistent, whatever `Ordering` it is given.
    pub(crate) struct AtomicU64(Mutex<Cell<u64>>);

    impl AtomicU64 {
        pub(crate) const fn new(value: u64) -> Self {
            Self(Mutex::new(Cell::new(value)))
        }

        #[inline]
        fn update(&self, f: impl FnOnce(u64) -> u64) -> u64 {
            critical_section::with(|cs| {
                let cell = self.0.borrow(cs);
                let old = cell.get();
                cell.set(f(old));
                old
            })
        }

        #[inline]
        pub(crate) fn load(&self, _order: Ordering) -> u64 {
            critical_section::with(|cs| self.0.borrow(cs).get())
        }

        #[inline]
        pub(crate) fn store(&self, value: u64, _order: Ordering) {
            critical_section::with(|cs| self.0.borrow(cs).set(value));
        }

        #[inline]
        pub(crate) fn compare_exchange(
            &self,
            current: u64,
            new: u64,
            _success: Ordering,
            _failure: Ordering,
        ) -> Result<u64, u64> {
            critical_section::with(|cs| {
                let cell = self.0.borrow(cs);
                let old = cell.get();
                if old == current {
                    cell.set(new);
                    Ok(old)
                } else {
                    Err(old)
                }
            })
        }

        #[inline]
        pub(crate) fn compare_exchange_weak(
            &self,
            current: u64,
            new: u64,
            success: Ordering,
            failure: Ordering,
        ) -> Result<u64, u64> {
            self.compare_exchange(current, new, success, failure)
        }

        #[inline]
        pub(crate) fn fetch_and(&self, value: u64, _order: Ordering) -> u64 {
            self.update(|old| old & value)
        }

        #[inline]
        pub(crate) fn fetch_or(&self, value: u64, _order: Ordering) -> u64 {
            self.update(|old| old | value)
        }
    }

    impl Default for AtomicU64 {
        fn default() -> Self {
            Self::new(0)
        }
    }

    impl core::fmt::Debug for AtomicU64 {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            core::fmt::Debug::fmt(&self.load(Ordering::Relaxed), f)
        }
    }
}

/// Deliberate protocol bugs for the loom suite's must-fail controls (`tests/loom_ring.rs`): a
/// control model switches one on and expects loom to find a failing execution. Switchable only
/// under `cfg(loom)` (re-exported there as `orbit_rs::loom_mutants`); everywhere else
/// [`mutant`] is a constant `false` and compiles away.
#[cfg_attr(not(loom), allow(unreachable_pub))] // Public only as `loom_mutants`, under loom.
pub mod mutants {
    /// Which mutant is on (0: none). A plain std atomic: set before a model runs, never part of
    /// what loom explores.
    #[cfg(loom)]
    #[allow(clippy::disallowed_types)]
    pub static ACTIVE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    /// The reader skips its acquire fence between the copy and the seq reload.
    pub const NO_READER_FENCE: u32 = 1;
    /// The exclusive writer stores blindly on its first lap too (no CAS against stale claimants).
    pub const NO_FIRST_LAP_CAS: u32 = 2;
    /// A reader delivers frames without checking that the generation's base is unchanged.
    pub const NO_BASE_CHECK: u32 = 3;
    /// Releasing a lease clears the lease bit without checking the token first.
    pub const RELEASE_WITHOUT_TOKEN: u32 = 4;
    /// A multi-writer claim made before a reset commits after it (no base check on claim).
    pub const NO_CLAIM_BASE_CHECK: u32 = 5;
    /// A taker confirms its lease token with a load instead of an RMW (no store-buffering
    /// guard against a breaker closing the lease mid-take).
    pub const CONFIRM_TAKE_BY_LOAD: u32 = 6;
    /// A taker that finds its lease closed mid-take stops waiting for the closer to finish,
    /// leaving a lease bit the closer may have missed.
    pub const BROKEN_TAKER_LEAVES: u32 = 7;
    /// A slot's `writer` word is trusted on its tag alone: commits leave it set and stalled-slot
    /// recovery ignores its counter bits (so a stale tag of a dead writer can name a live one's
    /// slot). Hosted targets only (bare-metal slots have no `writer` word).
    #[cfg_attr(target_os = "none", allow(dead_code))]
    pub const TRUST_STALE_WRITER: u32 = 10;
    /// A writer loads the waiter count right after its commit with no barrier between (the
    /// store can pass the load: store buffering), so it may miss a waiter that missed the
    /// commit.
    #[cfg_attr(not(loom), allow(dead_code))]
    pub const NO_WRITER_BARRIER: u32 = 11;
    /// A waiter does not look at the ring again after registering: a commit between its last
    /// look and its registration wakes nobody.
    #[cfg_attr(not(all(feature = "std", not(target_os = "none"))), allow(dead_code))]
    pub const NO_RECHECK_AFTER_REGISTER: u32 = 12;
    /// A waiter reads the wake word after its last look at the ring instead of before: a wake
    /// between the two is taken as the value to sleep on.
    #[cfg_attr(not(all(feature = "std", not(target_os = "none"))), allow(dead_code))]
    pub const WAKE_WORD_AFTER_RECHECK: u32 = 13;
    /// A writer loads a `RingSignal`'s armed flag right after its commit with no fence between.
    #[cfg_attr(not(feature = "critical-section"), allow(dead_code))]
    pub const NO_SIGNAL_FENCE: u32 = 14;
    /// A waiter reads the wake word after registering (and its barrier) instead of before: a
    /// writer can then clear a registration whose waiter sleeps past the bump that cleared it.
    #[cfg_attr(not(all(feature = "std", not(target_os = "none"))), allow(dead_code))]
    pub const WAKE_WORD_AFTER_REGISTER: u32 = 15;
    /// A waking writer leaves the `waiters` flag set (the registration of a waiter that died
    /// then costs every later publish a wake).
    #[cfg_attr(not(all(feature = "std", not(target_os = "none"))), allow(dead_code))]
    pub const WAKE_KEEPS_REGISTRATIONS: u32 = 16;
    /// The poll's delivery run (`Ring::run`, the common case of a poll that delivers) hands
    /// out frames without checking that the generation's base is unchanged; the rest of the
    /// walk still checks.
    pub const NO_RUN_BASE_CHECK: u32 = 17;
}

/// An acquire load made of a relaxed load and an acquire fence: it synchronises with the
/// release store it reads from exactly as `load(Acquire)` would. The read path uses it because
/// readers may poll a mapping that is read-only to them (a group's read policy), and Rust
/// documents only *relaxed* atomic loads as allowed on read-only memory.
#[inline(always)]
pub(crate) fn load_acquire(word: &AtomicU64) -> u64 {
    let value = word.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    value
}

/// True if the loom control `id` is on; always false outside `cfg(loom)`.
#[inline(always)]
pub(crate) fn mutant(id: u32) -> bool {
    #[cfg(loom)]
    {
        mutants::ACTIVE.load(std::sync::atomic::Ordering::Relaxed) == id
    }
    #[cfg(not(loom))]
    {
        let _ = id;
        false
    }
}

//! The one place that names an atomics implementation.
//!
//! * `cfg(loom)`: loom's model-checked atomics (used by `tests/loom_ring.rs`);
//! * feature `portable-atomic`: `portable_atomic`, for targets without native 64-bit atomics
//!   or without CAS (thumbv6m, thumbv7em, riscv32imc);
//! * otherwise: `core::sync::atomic`.
//!
//! `clippy.toml` forbids naming the atomic types anywhere else in the crate.
#![allow(clippy::disallowed_types)]

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering, fence};

#[cfg(all(not(loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{AtomicU64, Ordering, fence};

// An alias, not a `use`: clippy's `disallowed-types` then flags only direct uses of core's type.
#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) type AtomicU64 = core::sync::atomic::AtomicU64;
#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) use core::sync::atomic::{Ordering, fence};

#[cfg(all(
    not(loom),
    not(feature = "portable-atomic"),
    not(target_has_atomic = "64")
))]
compile_error!(
    "orbit-rs needs 64-bit atomics: enable the `portable-atomic` feature on this target \
     (and see the README's firmware section for the portable-atomic cfg to pick)"
);

/// Deliberate protocol bugs for the loom suite's must-fail controls (`tests/loom_ring.rs`): a
/// control model switches one on and expects loom to find a failing execution. Switchable only
/// under `cfg(loom)` (re-exported there as `orbit_rs::loom_mutants`); everywhere else
/// [`mutant`] is a constant `false` and compiles away.
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

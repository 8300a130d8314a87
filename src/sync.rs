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

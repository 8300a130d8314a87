//! # orbit-rs
//!
//! A lock-free **seqlock broadcast ring**: writers claim a monotonically increasing counter and
//! overwrite the oldest slot; every reader owns a cursor, polls what appeared since, and is told
//! exactly how many frames it lost when it fell behind. The core ([`Ring`], [`codec`], ids) is
//! `no_std` with no allocator and runs over any caller-supplied slot memory — a `static` array
//! on a microcontroller, or (feature `shm`) a POSIX shared-memory mapping several processes
//! publish to and poll.
//!
//! ```
//! use orbit_rs::{Cursor, Head, Ring, Slot};
//!
//! static SLOTS: [Slot<64>; 8] = [Slot::EMPTY; 8];
//! static HEAD: Head = Head::new();
//!
//! let ring = Ring::new(&SLOTS, &HEAD).unwrap();
//! let mut cursor = Cursor::from_start();
//! ring.publish(1, 0, b"hello").unwrap();
//! let mut seen = 0;
//! let poll = ring.poll(&mut cursor, |frame| {
//!     assert_eq!(frame.payload, b"hello");
//!     seen += 1;
//! });
//! assert_eq!((poll.delivered, poll.loss.total(), seen), (1, 0, 1));
//! ```
//!
//! The protocol, the loss accounting and the stuck-writer rule are documented in [`ring`].
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![warn(unreachable_pub)]

#[cfg(feature = "std")]
extern crate std;

// ---- no_std core: runs over caller-supplied memory, no allocator --------------------------
// Topic-tagged event frames: encode and strictly decode `topic + payload + timestamp`.
pub mod codec;
// [`NetId64`]: kind 8 | node 16 | counter 40 bits.
pub mod id;
// The seqlock broadcast ring: slots, head, writers, readers, leases, recovery.
pub mod ring;
// Atomics for every target (std, loom, critical-section, portable-atomic) and loom controls.
mod sync;
// Sleeping on a shared word (futex) and the waiting protocol's barrier pair (membarrier).
#[cfg(all(feature = "std", not(target_os = "none")))]
mod park;

// ---- std layer: owned rings, fleets, the event bus ----------------------------------------
#[cfg(feature = "std")]
mod error;
// The reference event bus over a fleet's event ring.
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod event;
// Fleets: named groups of peers sharing typed rings, in-process or over shared memory.
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod fleet;
// [`OwnedRing`]: a ring that owns its memory, shared by clones across threads.
#[cfg(feature = "std")]
mod owned;
// [`OrbitTyped`]: a Rust type names one ring of a fleet.
#[cfg(feature = "std")]
mod typed;

// ---- shm: POSIX shared-memory segments, liveness and membership (Linux) -------------------
// Segment names, layout and errors (always with `std`); creating, mapping, liveness and
// membership with the `shm` feature.
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod shm;

pub use id::{NetId64, NodeId, ParseIdError};
#[cfg(all(feature = "std", not(target_os = "none")))]
pub use ring::Waited;
pub use ring::{
    Cursor, ExclusiveWriter, Frame, FrameRef, Head, LeaseToken, Loss, Patience, PayloadSize, Poll,
    PublishError, Ring, Slot, SpecError, SupportedPayload,
};
#[cfg(feature = "critical-section")]
pub use ring::{RingSignal, SignalWait};

/// The loom waiting models' end-of-writers signal (see `park.rs`); only under `cfg(loom)`.
#[cfg(loom)]
#[doc(hidden)]
pub use park::loom_futex::wakers_done as loom_wakers_done;
/// The loom suite's must-fail controls (see `tests/loom_ring.rs`); only under `cfg(loom)`.
#[cfg(loom)]
#[doc(hidden)]
pub use sync::mutants as loom_mutants;

/// `bytemuck`, re-exported for typed values: derive `Pod` and `Zeroable` on a `#[repr(C)]`
/// type with `#[bytemuck(crate = "orbit_rs::bytemuck")]`, and no bytemuck dependency of your
/// own is needed.
#[cfg(feature = "std")]
pub use bytemuck;
#[cfg(feature = "std")]
pub use error::{Error, Result};
#[cfg(feature = "std")]
pub use event::{EVENT_PAYLOAD_MAX, OrbitEvent, OrbitEventBus, OrbitEventCursor, OrbitEventPoll};
#[cfg(feature = "std")]
pub use fleet::{
    Backing, Fleet, FleetBuilder, FleetLanes, FleetRing, FleetWriter, LanesCursor, LanesPoll,
    Orbital, RingCursor, RingPoll, Sample, ValuePoll,
};
#[cfg(all(feature = "std", unix))]
pub use fleet::{Readiness, WaitAsync};
#[cfg(feature = "std")]
pub use owned::{OwnedRing, OwnedWriter};
#[cfg(feature = "std")]
pub use typed::OrbitTyped;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

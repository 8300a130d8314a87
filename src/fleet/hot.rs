//! [`HotRing`]: a fleet ring as one handle uses it on every call, built once, so that a publish
//! or a poll is the core's plus one retirement check rather than a fresh [`View`] of the store
//! (the segment walk, the bounds checks, the class dispatch, the ring's settings) per call.
//!
//! Exclusive writers ([`FleetWriter`](super::FleetWriter)) publish on the ring their lease was
//! taken on; ring handles ([`FleetRing`](super::FleetRing)) poll on theirs. Measured in the
//! cross-process ping-pong (`benches/suite/benches/xproc.rs`), rebuilding the view on every
//! call cost the fleet API 5–20 % of its one-way latency over the core ring.

#![allow(unsafe_code)]

use std::sync::Arc;

use super::store::{RingStore, View};
use crate::ring::{PayloadSize, Ring, SupportedPayload};
use crate::sync::AtomicU64;

/// A store's lane-0 ring at the time it was built, with what it takes to tell whether it is
/// still the store's current ring: its segment's retired word (shared memory) and the
/// segment's place (see [`View::place`]).
pub(crate) struct HotRing<const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Points into ring memory `store` owns; handed out only for `&self` ([`ring`](Self::ring)).
    ring: Ring<'static, N>,
    /// The segment header's retired word, in the same memory; `None` in-process.
    retired: Option<&'static AtomicU64>,
    place: usize,
    /// Keeps that memory alive; never replaced.
    store: Arc<RingStore<N>>,
}

impl<const N: usize> Clone for HotRing<N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn clone(&self) -> Self {
        Self {
            ring: self.ring,
            retired: self.retired,
            place: self.place,
            store: Arc::clone(&self.store),
        }
    }
}

impl<const N: usize> HotRing<N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// The hot ring of `view`, a view of `store`.
    pub(super) fn new(store: &Arc<RingStore<N>>, view: &View<'_, N>) -> Self {
        let (ring, retired) = (view.ring, view.retired_flag());
        // SAFETY: `ring` and `retired` point only into ring memory that `store` owns outside
        // its own bytes: a segment's mapping (slots, head, header), or an in-process ring's
        // slot and head arrays (heap slices behind the owned ring's `Arc`). That memory stays
        // where it is until the store drops, and the `Arc` clone kept in `store` below keeps
        // the store alive for as long as this value (a `Ring` and a reference have no drop
        // code, so field order does not matter). Nothing here hands the references out for
        // longer than a borrow of `self`. (A `View` is not kept: its segment reference points
        // into the store's own bytes.)
        let (ring, retired) = unsafe {
            (
                core::mem::transmute::<Ring<'_, N>, Ring<'static, N>>(ring),
                core::mem::transmute::<Option<&AtomicU64>, Option<&'static AtomicU64>>(retired),
            )
        };
        Self {
            ring,
            retired,
            place: view.place(),
            store: Arc::clone(store),
        }
    }

    /// The ring, unless its segment was retired since it was built (the caller then takes
    /// the store's own path, which moves on to the segment the name holds now).
    #[inline]
    pub(super) fn ring(&self) -> Option<&Ring<'_, N>> {
        #[cfg(all(feature = "shm", target_os = "linux"))]
        if self.retired.is_some_and(crate::shm::retired) {
            return None;
        }
        Some(&self.ring)
    }

    /// Which memory the ring is in ([`View::place`] of the view it was built from).
    pub(super) fn place(&self) -> usize {
        self.place
    }

    pub(super) fn store(&self) -> &Arc<RingStore<N>> {
        &self.store
    }
}

/// Runs `$body` with `$h` bound to the hot ring inside an [`AnyHot`], whatever its class.
macro_rules! with_hot {
    ($any:expr, $h:ident => $body:expr) => {
        $crate::fleet::store::with_class!(crate::fleet::hot::AnyHot, $any, $h => $body)
    };
}
pub(crate) use with_hot;

/// `Some($body)` with `$h` bound to the hot ring inside an [`AnyHot`] if its class is the one
/// of `$payload` bytes (a constant: the type's declared payload, so the compiler keeps the one
/// arm that can match); `None` for a ring of another class (opened by kind).
macro_rules! with_hot_of {
    ($payload:expr, $any:expr, $h:ident => $body:expr) => {
        match ($crate::fleet::class_of($payload), $any) {
            (Some(32), $crate::fleet::hot::AnyHot::P32($h)) => Some($body),
            (Some(96), $crate::fleet::hot::AnyHot::P96($h)) => Some($body),
            (Some(224), $crate::fleet::hot::AnyHot::P224($h)) => Some($body),
            (Some(480), $crate::fleet::hot::AnyHot::P480($h)) => Some($body),
            _ => None,
        }
    };
}
pub(crate) use with_hot_of;

/// A [`HotRing`] of any slot class (as [`AnyStore`](super::store::AnyStore)).
#[derive(Clone)]
pub(crate) enum AnyHot {
    P32(HotRing<32>),
    P96(HotRing<96>),
    P224(HotRing<224>),
    P480(HotRing<480>),
}

macro_rules! any_hot_from {
    ($($variant:ident: $n:literal),*) => {$(
        impl From<HotRing<$n>> for AnyHot {
            fn from(hot: HotRing<$n>) -> Self {
                Self::$variant(hot)
            }
        }
    )*};
}
any_hot_from!(P32: 32, P96: 96, P224: 224, P480: 480);

//! [`HotRing`]: a fleet ring as one handle uses it on every call, built once, so that a publish
//! or a poll is the core's plus one retirement check rather than a fresh [`View`] of the store
//! (the segment walk, the bounds checks, the class dispatch, the ring's settings) per call.
//!
//! Exclusive writers ([`FleetWriter`](super::FleetWriter)) publish on the ring their lease was
//! taken on; ring handles ([`FleetRing`](super::FleetRing)) and the event bus publish
//! (multi-writer) and poll on theirs. Anything unusual — a retired segment, a read-only fleet,
//! a failed attempt, a stall clock running — takes the store's path, unchanged. Measured in the
//! cross-process ping-pong (`benches/suite/benches/xproc.rs`), rebuilding the view on every
//! call cost the fleet API 5–20 % of its one-way latency over the core ring; a multi-writer
//! publish cost 15.6 ns through the view against the core's 8.3 (11.5 now; `benches/suite/
//! benches/fleet.rs`).

#![allow(unsafe_code)]

use std::sync::Arc;

use super::RingCursor;
use super::handle::Stall;
use super::store::{RingStore, View};
use crate::error::Result;
use crate::id::NetId64;
use crate::ring::{FrameRef, Patience, PayloadSize, Poll, PublishError, Ring, SupportedPayload};
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
    /// The ring may be written through this handle (not an observer's read-only mapping).
    writable: bool,
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
            writable: self.writable,
            store: Arc::clone(&self.store),
        }
    }
}

impl<const N: usize> HotRing<N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// The hot ring of `store` as it is now.
    pub(crate) fn of(store: &Arc<RingStore<N>>) -> Self {
        Self::new(store, &store.view())
    }

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
            writable: store.check_writable().is_ok(),
            store: Arc::clone(store),
        }
    }

    /// Publishes one frame (multi-writer): one attempt on the hot ring, and the store's path
    /// — its current segment, the retry policy — if that attempt failed or could not be made
    /// (a retired segment, a read-only fleet, which that path reports).
    #[inline]
    pub(crate) fn publish(&self, frame_kind: u8, version: u64, payload: &[u8]) -> Result<NetId64> {
        let first = self
            .ring()
            .filter(|_| self.writable)
            .map(|ring| ring.publish(frame_kind, version, payload));
        or_again(first, |failed| {
            self.publish_again(failed, frame_kind, version, payload)
        })
    }

    /// The store's path of [`publish`](Self::publish), after the hot attempt's error, if any.
    #[cold]
    #[inline(never)]
    fn publish_again(
        &self,
        failed: Option<PublishError>,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64> {
        self.store
            .publish_after(0, failed, frame_kind, version, payload)
    }

    /// Hands every frame after `cursor` (at most `limit`) to `visit`: on the hot ring while its
    /// segment is current and no stall clock runs (a stall seen on one poll only: a writer
    /// caught mid-write); otherwise through the store's view, which recovers stuck slots and
    /// moves on to a fresh segment.
    #[inline]
    pub(crate) fn poll(
        &self,
        cursor: &mut RingCursor,
        limit: usize,
        visit: impl FnMut(FrameRef<'_>),
    ) -> Poll {
        if !matches!(cursor.stalled, Some(Stall::Since(..)))
            && let Some(ring) = self.ring()
        {
            return self
                .store
                .poll_ring(ring, Patience::Wait, cursor, limit, visit);
        }
        self.poll_by_view(cursor, limit, visit)
    }

    /// [`poll`](Self::poll) through the store's view. Out of line, so the hot path keeps one
    /// copy of the walk, inlined (the `Poll` in registers).
    #[cold]
    #[inline(never)]
    fn poll_by_view(
        &self,
        cursor: &mut RingCursor,
        limit: usize,
        visit: impl FnMut(FrameRef<'_>),
    ) -> Poll {
        self.store.poll(cursor, limit, visit)
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

/// The outcome of a first attempt on a hot ring if it succeeded; otherwise `again` (the
/// store's path), given the attempt's error (`None`: no attempt could be made), which its
/// retry policy counts as the first failure.
#[inline(always)]
pub(super) fn or_again<R>(
    first: Option<core::result::Result<R, PublishError>>,
    again: impl FnOnce(Option<PublishError>) -> Result<R>,
) -> Result<R> {
    match first {
        Some(Ok(done)) => Ok(done),
        first => again(first.and_then(core::result::Result::err)),
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
/// arm that can match); `None` for a ring of another class (opened by kind). With
/// `else => $other`: `$body` or `$other` (each may move the same values).
macro_rules! with_hot_of {
    ($payload:expr, $any:expr, $h:ident => $body:expr, else => $other:expr) => {
        match ($crate::fleet::class_of($payload), $any) {
            (Some(32), $crate::fleet::hot::AnyHot::P32($h)) => $body,
            (Some(96), $crate::fleet::hot::AnyHot::P96($h)) => $body,
            (Some(224), $crate::fleet::hot::AnyHot::P224($h)) => $body,
            (Some(480), $crate::fleet::hot::AnyHot::P480($h)) => $body,
            _ => $other,
        }
    };
    ($payload:expr, $any:expr, $h:ident => $body:expr) => {
        $crate::fleet::hot::with_hot_of!($payload, $any, $h => Some($body), else => None)
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

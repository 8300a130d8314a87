//! The handles users hold: [`FleetRing`] (a typed ring's verbs, no lookups), [`FleetWriter`]
//! (its exclusive writer), [`RingCursor`] and [`RingPoll`].

use core::marker::PhantomData;
use std::time::Instant;
use std::vec::Vec;

use super::hot::{AnyHot, HotRing, or_again, with_hot, with_hot_of};
use super::store::{AnyStore, Retry, with_store};
use super::*;
use crate::ring::{Frame, PayloadSize, SupportedPayload};

/// A reader's cursor on a fleet ring: a core [`Cursor`] plus when it started waiting for a
/// stuck writer (the `std` layer's stuck-writer rule is a deadline, not a poll count).
///
/// # Examples
///
/// ```
/// # use orbit_rs::bytemuck::{Pod, Zeroable};
/// # use orbit_rs::{Fleet, OrbitTyped, RingCursor};
/// # #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
/// # #[bytemuck(crate = "orbit_rs::bytemuck")]
/// # #[repr(C)]
/// # struct Tick(u64);
/// # impl OrbitTyped for Tick { const KIND: u8 = 15; const CAPACITY: usize = 8; const PAYLOAD: usize = 8; }
/// let ticks = Fleet::join("cursor-doc", 1)?.ring::<Tick>()?;
/// ticks.publish(&Tick(1))?;
/// let mut replay = RingCursor::from_start(); // everything still in the ring
/// let mut live = ticks.cursor_at_head(); // only what comes next
/// ticks.publish(&Tick(2))?;
/// assert_eq!(ticks.poll(&mut replay).values.len(), 2);
/// assert_eq!(ticks.poll(&mut live).values.len(), 1);
/// assert_eq!(replay.next_counter(), live.next_counter());
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingCursor {
    pub(super) cursor: Cursor,
    pub(super) stalled: Option<Stall>,
}

/// What a cursor knows of the stalled counter its polls stop at (a writer mid-write there).
///
/// The stuck-writer clock starts on the second poll in a row that stalls on the counter, not
/// the first: a busy-polling reader finds a live writer mid-write all the time, for the few
/// nanoseconds its write takes, and reading the clock then would delay the very poll that
/// delivers the frame. A reader that polls rarely gives up one poll later than the clock
/// alone would say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stall {
    /// One poll stalled on this counter; the clock has not started.
    Seen(u64),
    /// Polls have stalled on this counter since this instant.
    Since(u64, Instant),
}

impl RingCursor {
    /// Replay what is still in the ring.
    #[must_use]
    pub const fn from_start() -> Self {
        Self {
            cursor: Cursor::from_start(),
            stalled: None,
        }
    }

    /// Start at a known next counter.
    #[must_use]
    pub const fn from_counter(next_counter: u64) -> Self {
        Self {
            cursor: Cursor::from_counter(next_counter),
            stalled: None,
        }
    }

    /// The next counter this cursor will read.
    #[must_use]
    pub const fn next_counter(self) -> u64 {
        self.cursor.next_counter()
    }

    pub(super) fn at(cursor: Cursor) -> Self {
        Self {
            cursor,
            stalled: None,
        }
    }
}

impl Default for RingCursor {
    fn default() -> Self {
        Self::from_start()
    }
}

/// Frames and loss of one [`FleetRing::poll_frames`] call.
///
/// # Examples
///
/// ```
/// # use orbit_rs::{Fleet, OrbitTyped, RingCursor};
/// # struct Log;
/// # impl OrbitTyped for Log { const KIND: u8 = 16; const CAPACITY: usize = 4; }
/// let logs = Fleet::join("ring-poll-doc", 1)?.ring::<Log>()?;
/// let mut cursor = RingCursor::from_start();
/// for line in ["a", "b", "c", "d", "e", "f"] {
///     logs.publish_frame(1, 0, line.as_bytes())?;
/// }
/// let poll = logs.poll_frames(&mut cursor); // a 4-slot ring kept the last 4
/// assert_eq!(poll.frames.len(), 4);
/// assert_eq!(poll.loss.overwritten, 2);
/// assert_eq!(&poll.frames[0].payload[..], b"c");
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RingPoll {
    /// Delivered frames, in counter order.
    pub frames: Vec<FleetFrame>,
    /// Counters passed without delivery.
    pub loss: Loss,
    /// The ring was reset since the cursor's last poll.
    pub rewound: bool,
}

/// A handle on one typed ring of a fleet: the per-type operations without the fleet's ring
/// lookup. Cheap to clone; keeps the ring (and its mapping) alive.
///
/// # Examples
///
/// Two writer threads and a reader, on clones of one handle (with `Fleet::join_shm` the same
/// code runs across processes):
///
/// ```
/// # use orbit_rs::bytemuck::{Pod, Zeroable};
/// # use orbit_rs::{Fleet, OrbitTyped, RingCursor};
/// # #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
/// # #[bytemuck(crate = "orbit_rs::bytemuck")]
/// # #[repr(C)]
/// # struct Tick(u64);
/// # impl OrbitTyped for Tick { const KIND: u8 = 15; const CAPACITY: usize = 8; const PAYLOAD: usize = 8; }
/// use std::thread;
///
/// let ticks = Fleet::join("fleet-ring-doc", 1)?.ring::<Tick>()?;
/// let mut cursor = ticks.cursor_at_head();
/// let writers: Vec<_> = (0..2)
///     .map(|w| {
///         let ticks = ticks.clone();
///         thread::spawn(move || ticks.publish(&Tick(w)).map(drop))
///     })
///     .collect();
/// for writer in writers {
///     writer.join().unwrap()?;
/// }
/// let poll = ticks.poll(&mut cursor);
/// assert_eq!(poll.values.len() as u64 + poll.loss.total(), 2);
/// # Ok::<(), orbit_rs::Error>(())
/// ```
pub struct FleetRing<T> {
    store: AnyStore,
    /// The store's ring as it was when this handle was made, for the poll loop (see
    /// [`poll_with_limit`](Self::poll_with_limit)).
    hot: AnyHot,
    _type: PhantomData<fn() -> T>,
}

impl<T> FleetRing<T> {
    pub(super) fn new(store: AnyStore) -> Self {
        Self {
            hot: with_store!(&store, s => HotRing::of(s).into()),
            store,
            _type: PhantomData,
        }
    }
}

impl<T> Clone for FleetRing<T> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            hot: self.hot.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> core::fmt::Debug for FleetRing<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FleetRing")
            .field("kind", &self.store.kind())
            .field("capacity", &self.store.capacity())
            .field("payload", &self.store.payload())
            .finish_non_exhaustive()
    }
}

impl<T: OrbitTyped> FleetRing<T> {
    /// Publishes one frame of raw bytes (for frames that are not one `Pod` value: events,
    /// variable payloads); retries a few times if the writer had to abandon its counter.
    ///
    /// With several writers, a writer whose slot still holds another writer's frame in the
    /// making abandons the counter it claimed and retries with a new one; readers count the
    /// abandoned counter [unavailable](crate::Loss::unavailable). So a reader's frames plus
    /// its loss add up to the counters claimed ([`head`](Self::head)), which can exceed the
    /// publishes that succeeded by those retries. An [`exclusive_writer`](Self::exclusive_writer)
    /// never abandons a counter on a slot of its own.
    ///
    /// Fails with [`PublishError::Leased`] while a [`FleetWriter`] holds the ring, unless its
    /// holder's process is gone: then its lease is broken and the publish goes ahead.
    pub fn publish_frame(&self, frame_kind: u8, version: u64, payload: &[u8]) -> Result<NetId64> {
        // The class `T` declares picks the arm at compile time; a ring opened by kind with
        // another class (`Fleet::ring_by_kind`) takes the store's path every time.
        with_hot_of!(
            T::PAYLOAD, &self.hot, h => h.publish(frame_kind, version, payload),
            else => with_store!(&self.store, s => s.publish(frame_kind, version, payload))
        )
    }

    /// Commits `count` loss markers: counters every reader of the ring counts
    /// [unavailable](crate::Loss::unavailable), in order with the frames around them, and that
    /// are never delivered. For frames lost before they reached this ring — a bridge
    /// republishing another host's stream turns that stream's loss into these, so its local
    /// readers count it like their own. See [`Ring::publish_lost`].
    ///
    /// # Errors
    ///
    /// As [`publish_frame`](Self::publish_frame): the markers committed before the error stay.
    ///
    /// # Examples
    ///
    /// ```
    /// # use orbit_rs::{Fleet, OrbitTyped, RingCursor};
    /// # struct Log;
    /// # impl OrbitTyped for Log { const KIND: u8 = 17; const CAPACITY: usize = 8; }
    /// let logs = Fleet::join("publish-lost-doc", 1)?.ring::<Log>()?;
    /// let mut cursor = RingCursor::from_start();
    /// logs.publish_frame(1, 0, b"a")?;
    /// logs.publish_lost(3)?; // three frames that never arrived
    /// logs.publish_frame(1, 0, b"e")?;
    /// let poll = logs.poll_frames(&mut cursor);
    /// assert_eq!(poll.frames.len(), 2);
    /// assert_eq!((poll.loss.unavailable, poll.loss.overwritten), (3, 0));
    /// # Ok::<(), orbit_rs::Error>(())
    /// ```
    pub fn publish_lost(&self, count: u32) -> Result<()> {
        with_store!(&self.store, s => s.publish_lost(count))
    }

    /// Takes the ring's writer lease for this handle: the one-writer publish path (see
    /// [`ExclusiveWriter`](crate::ExclusiveWriter)), for every process of the fleet, until the
    /// returned writer is dropped. A lease whose holder's process is gone is broken first.
    pub fn exclusive_writer(&self) -> Result<FleetWriter<T>> {
        let (lease, hot) =
            with_store!(&self.store, s => s.take_lease().map(|(lease, hot)| (lease, hot.into())))?;
        Ok(FleetWriter {
            lease,
            hot,
            _type: PhantomData,
        })
    }

    /// Hands every frame after `cursor` to `visit` without allocating.
    #[inline]
    pub fn poll_with(&self, cursor: &mut RingCursor, visit: impl FnMut(FrameRef<'_>)) -> Poll {
        self.poll_with_limit(cursor, usize::MAX, visit)
    }

    /// [`poll_with`](Self::poll_with), handing out at most `limit` frames: the cursor then
    /// rests on the first frame not delivered, so nothing is skipped; poll again for the rest.
    #[inline]
    pub fn poll_with_limit(
        &self,
        cursor: &mut RingCursor,
        limit: usize,
        visit: impl FnMut(FrameRef<'_>),
    ) -> Poll {
        // The hot ring (see `HotRing::poll`); the class `T` declares picks the arm at compile
        // time, and a ring opened by kind with another class takes the store's path.
        with_hot_of!(
            T::PAYLOAD, &self.hot, h => h.poll(cursor, limit, visit),
            else => self.poll_by_kind(cursor, limit, visit)
        )
    }

    /// [`poll_with_limit`](Self::poll_with_limit) of a ring whose class is not `T`'s, through
    /// the store's view. Out of line: the hot path keeps one copy of the walk.
    #[cold]
    #[inline(never)]
    fn poll_by_kind(
        &self,
        cursor: &mut RingCursor,
        limit: usize,
        visit: impl FnMut(FrameRef<'_>),
    ) -> Poll {
        with_store!(&self.store, s => s.poll(cursor, limit, visit))
    }

    /// Copies every frame after `cursor` out of the ring.
    pub fn poll_frames(&self, cursor: &mut RingCursor) -> RingPoll {
        let mut frames = Vec::new();
        let poll = self.poll_with(cursor, |frame| frames.extend(FleetFrame::from_ref(&frame)));
        RingPoll {
            frames,
            loss: poll.loss,
            rewound: poll.rewound,
        }
    }

    /// Blocks until a poll of `cursor` has something for it — a value or frame it has not
    /// seen, loss, a reset, a move to a fresh segment — or `timeout` passes, without spinning:
    /// between threads and (shared memory) across processes. Publishers pay a wake system call
    /// only while somebody waits. A writer stalled mid-write ends the wait once the cursor
    /// has waited the fleet's `stuck_after` on it.
    ///
    /// ```
    /// # use orbit_rs::bytemuck::{Pod, Zeroable};
    /// # use orbit_rs::{Fleet, OrbitTyped};
    /// # #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
    /// # #[bytemuck(crate = "orbit_rs::bytemuck")]
    /// # #[repr(C)]
    /// # struct Tick(u64);
    /// # impl OrbitTyped for Tick { const KIND: u8 = 18; const PAYLOAD: usize = 8; }
    /// use std::time::Duration;
    /// use orbit_rs::Waited;
    ///
    /// let ticks = Fleet::join("wait-doc", 1)?.ring::<Tick>()?;
    /// let mut cursor = ticks.cursor_at_head();
    /// let publisher = {
    ///     let ticks = ticks.clone();
    ///     std::thread::spawn(move || ticks.publish(&Tick(7)))
    /// };
    /// while ticks.wait(&cursor, Duration::from_secs(10)) == Waited::Ready {
    ///     if let Some(sample) = ticks.poll(&mut cursor).values.first() {
    ///         assert_eq!(sample.value, Tick(7));
    ///         break;
    ///     }
    /// }
    /// publisher.join().unwrap()?;
    /// # Ok::<(), orbit_rs::Error>(())
    /// ```
    pub fn wait(&self, cursor: &RingCursor, timeout: core::time::Duration) -> crate::Waited {
        with_store!(&self.store, s => s.wait(cursor, timeout))
    }

    /// [`wait`](Self::wait) as a future, for any executor: completes when a poll of `cursor`
    /// has something (no timeout: race it with your executor's timer). A watcher thread of
    /// this ring and process does the blocking wait for every pending future and
    /// [`Readiness`](super::Readiness) descriptor; it is idle, and writers pay nothing, while
    /// none is pending.
    ///
    /// ```
    /// # use orbit_rs::bytemuck::{Pod, Zeroable};
    /// # use orbit_rs::{Fleet, OrbitTyped};
    /// # #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
    /// # #[bytemuck(crate = "orbit_rs::bytemuck")]
    /// # #[repr(C)]
    /// # struct Tick(u64);
    /// # impl OrbitTyped for Tick { const KIND: u8 = 20; const PAYLOAD: usize = 8; }
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     struct Unpark(std::thread::Thread);
    /// #     impl std::task::Wake for Unpark { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
    /// #     let waker = std::sync::Arc::new(Unpark(std::thread::current())).into();
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) { return out; }
    /// #         std::thread::park();
    /// #     }
    /// # }
    /// let ticks = Fleet::join("wait-async-doc", 1)?.ring::<Tick>()?;
    /// let mut cursor = ticks.cursor_at_head();
    /// let publisher = {
    ///     let ticks = ticks.clone();
    ///     std::thread::spawn(move || ticks.publish(&Tick(9)))
    /// };
    /// block_on(async {
    ///     loop {
    ///         if let Some(sample) = ticks.poll(&mut cursor).values.first() {
    ///             assert_eq!(sample.value, Tick(9));
    ///             break;
    ///         }
    ///         ticks.wait_async(&cursor).await;
    ///     }
    /// });
    /// publisher.join().unwrap()?;
    /// # Ok::<(), orbit_rs::Error>(())
    /// ```
    #[cfg(unix)]
    pub fn wait_async(&self, cursor: &RingCursor) -> super::WaitAsync {
        super::WaitAsync::new(self.store.clone(), *cursor)
    }

    /// A file descriptor that becomes readable when a poll of the cursor it is armed with
    /// has something: for `epoll`, `mio` or tokio's `AsyncFd` (see [`Readiness`](super::Readiness)).
    ///
    /// # Errors
    ///
    /// [`Error::Readiness`] if the descriptor pair cannot be created.
    #[cfg(unix)]
    pub fn readiness(&self) -> Result<super::Readiness> {
        super::Readiness::new(self.store.clone()).map_err(Error::Readiness)
    }

    /// The newest committed frame.
    #[must_use]
    pub fn read_head(&self) -> Option<FleetFrame> {
        with_store!(&self.store, s => widen(s.ring().read_head()?))
    }

    /// The frame with exactly this id, if the ring still holds it.
    #[must_use]
    pub fn read(&self, id: NetId64) -> Option<FleetFrame> {
        with_store!(&self.store, s => widen(s.ring().read(id)?))
    }

    /// The next counter the ring will hand out.
    #[must_use]
    pub fn head(&self) -> u64 {
        with_store!(&self.store, s => s.ring().head())
    }

    /// A cursor that sees only frames published after this call.
    #[must_use]
    pub fn cursor_at_head(&self) -> RingCursor {
        with_store!(&self.store, s => s.cursor_at_head())
    }

    /// Empties the ring: a new generation starts at the head, live cursors rewind (see
    /// [`Ring::reset`]). Fails with [`PublishError::Leased`] while a live [`FleetWriter`]
    /// holds the ring (a dead holder's lease is broken first); the lease holder itself resets
    /// with [`FleetWriter::reset`].
    pub fn reset(&self) -> Result<()> {
        with_store!(&self.store, s => s.reset())
    }

    /// The core ring handle (kind, node and owner tag set), for hot loops; `N` is the ring's
    /// slot payload ([`payload`](Self::payload)), e.g. `ring::<480>()` for the default class.
    ///
    /// # Errors
    ///
    /// [`Error::PayloadMismatch`] if the ring's slots are not `Slot<N>`; [`Error::ReadOnly`] on
    /// a fleet this process only reads (a group's read policy): a core `Ring` can publish and
    /// reset, and its memory is mapped read-only.
    pub fn ring<const N: usize>(&self) -> Result<Ring<'_, N>>
    where
        PayloadSize<N>: SupportedPayload,
    {
        let store = self.store.as_class::<N>().ok_or(Error::PayloadMismatch {
            kind: self.store.kind(),
            expected: self.store.payload(),
            found: N,
        })?;
        store.check_writable()?;
        Ok(store.ring())
    }

    /// Slots in the ring.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.store.capacity()
    }

    /// Payload bytes of the ring's slots: the class [`OrbitTyped::PAYLOAD`] chose (one of
    /// [`PAYLOAD_CLASSES`]).
    #[must_use]
    pub fn payload(&self) -> usize {
        self.store.payload()
    }
}

impl Fleet {
    /// Opens (or returns) the ring of `kind` — a kind known only at run time — with `capacity`
    /// slots holding `payload` bytes (rounded up to its class, one of [`PAYLOAD_CLASSES`]):
    /// for tools that carry frames of types they do not know, such as a bridge to another
    /// host or a recorder. `T` only names the handle's type; its consts are not used. The
    /// capacity and class must match the ring's (on shared memory, what every process opened
    /// it with: `T::CAPACITY`, `T::PAYLOAD` of the type that owns the kind).
    ///
    /// # Errors
    ///
    /// As [`ring`](Fleet::ring), and [`Error::SpecMismatch`] / [`Error::PayloadMismatch`] if
    /// this handle already opened the kind with another capacity or class. (Opening the kind
    /// by its type *after* this call compares the type's declared capacity with `capacity`.)
    ///
    /// # Examples
    ///
    /// ```
    /// use orbit_rs::event::{EVENT_RING_CAPACITY, EVENT_RING_KIND};
    /// use orbit_rs::fleet::PAYLOAD_MAX;
    /// use orbit_rs::{Fleet, OrbitEventBus, OrbitTyped, RingCursor};
    ///
    /// enum Frames {} // a name for handles of rings opened by kind
    /// impl OrbitTyped for Frames {
    ///     const KIND: u8 = 0;
    /// }
    ///
    /// let fleet = std::sync::Arc::new(Fleet::join("ring-by-kind-doc", 1)?);
    /// let bus = OrbitEventBus::new(fleet.clone())?;
    /// bus.publish("door", b"open")?;
    /// let events =
    ///     fleet.ring_by_kind::<Frames>(EVENT_RING_KIND, EVENT_RING_CAPACITY, PAYLOAD_MAX)?;
    /// let poll = events.poll_frames(&mut RingCursor::from_start());
    /// assert_eq!(poll.frames[0].id, bus.poll(&mut bus.cursor_from_start()).events[0].id);
    /// # Ok::<(), orbit_rs::Error>(())
    /// ```
    pub fn ring_by_kind<T: OrbitTyped>(
        &self,
        kind: u8,
        capacity: usize,
        payload: usize,
    ) -> Result<FleetRing<T>> {
        // A kind this handle opened already (by its type, say) keeps the capacity its type
        // declared: only the actual capacity and class must match.
        let declared = self
            .rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(kind, false))
            .map_or(capacity, AnyStore::declared);
        Ok(FleetRing::new(self.open(
            kind,
            declared,
            payload,
            Some(capacity),
            false,
        )?))
    }
}

/// The one writer of a fleet ring, from [`FleetRing::exclusive_writer`]: publishes without
/// atomic read-modify-writes while other publishers are refused. Dropping it hands the ring
/// back to [`FleetRing::publish`]; if its process dies, the next publisher or writer that finds
/// the lease breaks it.
///
/// # Examples
///
/// ```
/// # use orbit_rs::bytemuck::{Pod, Zeroable};
/// # use orbit_rs::{Fleet, OrbitTyped, RingCursor};
/// # #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
/// # #[bytemuck(crate = "orbit_rs::bytemuck")]
/// # #[repr(C)]
/// # struct Tick(u64);
/// # impl OrbitTyped for Tick { const KIND: u8 = 15; const CAPACITY: usize = 8; const PAYLOAD: usize = 8; }
/// use orbit_rs::{Error, PublishError};
///
/// let ticks = Fleet::join("fleet-writer-doc", 1)?.ring::<Tick>()?;
/// let mut writer = ticks.exclusive_writer()?;
/// writer.publish(&Tick(1))?;
/// assert!(matches!(ticks.publish(&Tick(2)), Err(Error::Publish(PublishError::Leased))));
/// drop(writer);
/// ticks.publish(&Tick(3))?; // multi-writers again
/// # Ok::<(), orbit_rs::Error>(())
/// ```
pub struct FleetWriter<T> {
    /// The ring the lease was taken on, built once. Its place (the segment, 0 in-process) is
    /// the lease's: after a retirement the ring's current segment is another one, where this
    /// lease means nothing — even if the same member took a lease there whose token happens
    /// to be equal.
    hot: AnyHot,
    lease: Lease,
    _type: PhantomData<fn() -> T>,
}

impl<T: OrbitTyped> FleetWriter<T> {
    /// Payload bytes of the ring's slots (see [`FleetRing::payload`]).
    #[must_use]
    pub fn payload(&self) -> usize {
        with_hot!(&self.hot, h => h.store().payload())
    }
}

impl<T> core::fmt::Debug for FleetWriter<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FleetWriter")
            .field("kind", &with_hot!(&self.hot, h => h.store().kind))
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl<T: OrbitTyped> FleetWriter<T> {
    /// Publishes one frame of raw bytes; retries a few times if the writer had to abandon its
    /// counter (a slot still held by a writer from before the lease).
    #[inline(always)] // The hot path is the core's publish and one word; the rest is a call.
    pub fn publish_frame(
        &mut self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64> {
        let lease = &mut self.lease;
        // The class `T` declares picks the arm at compile time; a writer of a ring opened by
        // kind with another class (`Fleet::ring_by_kind`) takes the path below every time.
        let first = with_hot_of!(T::PAYLOAD, &self.hot, h => {
            h.ring().map(|r| lease.publish(r, frame_kind, version, payload))
        })
        .flatten();
        or_again(first, |failed| {
            self.publish_again(failed, frame_kind, version, payload)
        })
    }

    /// [`publish_frame`](Self::publish_frame) past its first attempt on the hot ring, which
    /// failed with `failed`, or was not made (`None`: the ring's segment was retired, or the
    /// ring's class is not `T`'s): the store's current view, and the retry policy.
    #[cold]
    #[inline(never)]
    fn publish_again(
        &mut self,
        mut failed: Option<PublishError>,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64> {
        let lease = &mut self.lease;
        with_hot!(&self.hot, h => {
            let view = h.store().view();
            if view.place() != h.place() {
                return Err(PublishError::LeaseLost.into()); // The ring moved on (retired).
            }
            let mut retry = Retry::default();
            loop {
                if let Some(e) = failed {
                    // A slot a dead multi-writer left mid-write returns to service here (the
                    // frame abandoned on it is counted by readers), so the next lap takes it.
                    if !retry.again(&view, e) {
                        return Err(e.into());
                    }
                }
                match lease.publish(&view.ring, frame_kind, version, payload) {
                    Ok(id) => return Ok(id),
                    Err(e) => failed = Some(e),
                }
            }
        })
    }
}

impl<T: OrbitTyped> FleetWriter<T> {
    /// Empties the ring from the lease holder (see [`ExclusiveWriter::reset`](crate::ExclusiveWriter::reset));
    /// the writer keeps the lease.
    pub fn reset(&mut self) -> Result<()> {
        let lease = &mut self.lease;
        with_hot!(&self.hot, h => {
            let view = h.store().view();
            if view.place() != h.place() {
                return Err(PublishError::LeaseLost.into());
            }
            Ok(lease.reset(&view.ring)?)
        })
    }
}

impl<T> Drop for FleetWriter<T> {
    fn drop(&mut self) {
        let lease = &self.lease;
        with_hot!(&self.hot, h => {
            let view = h.store().view();
            // A lease on a retired segment is left there: nobody uses that memory any more.
            if view.place() == h.place() {
                lease.release(&view.ring);
            }
        });
    }
}

/// A frame of a smaller slot class as a [`FleetFrame`] (which holds any class's payload).
fn widen<const N: usize>(frame: Frame<N>) -> Option<FleetFrame> {
    FleetFrame::from_ref(&frame.as_ref())
}

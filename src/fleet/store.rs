//! A fleet's opened ring: its storage (in-process or a shared-memory segment), the view one
//! operation takes of it, and the policy that decides when a refused write is retried, a dead
//! writer's lease broken or its slot returned to service.

use super::handle::Stall;
use super::hot::HotRing;
use std::sync::Arc;
use std::time::Instant;

use crate::ring::Waited;

use super::*;
use crate::ring::{PayloadSize, SupportedPayload};

/// An opened fleet ring of any slot class (its payload bytes, one of
/// [`PAYLOAD_CLASSES`](super::PAYLOAD_CLASSES)).
#[derive(Clone)]
pub(crate) enum AnyStore {
    P32(Arc<RingStore<32>>),
    P96(Arc<RingStore<96>>),
    P224(Arc<RingStore<224>>),
    P480(Arc<RingStore<480>>),
}

/// Runs `$body` with `$s` bound to the value inside `$any`, an enum with one variant per slot
/// class (`P32`, `P96`, `P224`, `P480`: [`AnyStore`], [`AnyHot`](super::hot::AnyHot)),
/// whatever its class.
macro_rules! with_class {
    ($($enum:ident)::+, $any:expr, $s:ident => $body:expr) => {
        match $any {
            $($enum)::+::P32($s) => $body,
            $($enum)::+::P96($s) => $body,
            $($enum)::+::P224($s) => $body,
            $($enum)::+::P480($s) => $body,
        }
    };
}
pub(crate) use with_class;

/// Runs `$body` with `$s` bound to the store inside an [`AnyStore`], whatever its class.
macro_rules! with_store {
    ($any:expr, $s:ident => $body:expr) => {
        $crate::fleet::store::with_class!(crate::fleet::store::AnyStore, $any, $s => $body)
    };
}
pub(crate) use with_store;

impl AnyStore {
    /// Payload bytes of the ring's slots.
    pub(crate) fn payload(&self) -> usize {
        with_store!(self, s => s.payload())
    }

    pub(crate) fn kind(&self) -> u8 {
        with_store!(self, s => s.kind)
    }

    pub(crate) fn capacity(&self) -> usize {
        with_store!(self, s => s.capacity)
    }

    pub(crate) fn declared(&self) -> usize {
        with_store!(self, s => s.declared)
    }

    /// The store as one of class `N`, if it is that class.
    pub(crate) fn as_class<const N: usize>(&self) -> Option<&RingStore<N>>
    where
        PayloadSize<N>: SupportedPayload,
    {
        with_store!(self, s => (&**s as &dyn core::any::Any).downcast_ref::<RingStore<N>>())
    }

    /// The 480-byte-payload store (the event bus's class), if it is that class.
    pub(crate) fn into_max(self) -> Option<Arc<RingStore<PAYLOAD_MAX>>> {
        match self {
            Self::P480(s) => Some(s),
            Self::P32(_) | Self::P96(_) | Self::P224(_) => None,
        }
    }
}

pub(crate) enum Storage<const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    Local(crate::OwnedRing<N>),
    #[cfg(all(feature = "shm", target_os = "linux"))]
    Shm(shm::Attached<N>),
}

/// One opened ring of a fleet.
pub(crate) struct RingStore<const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    pub(crate) storage: Storage<N>,
    pub(crate) declared: usize,
    pub(crate) capacity: usize,
    pub(crate) kind: u8,
    pub(crate) node: NodeId,
    pub(crate) read: ReadPolicy,
    /// Async waits and readiness descriptors on this ring in this process (`watch.rs`).
    #[cfg(unix)]
    pub(crate) watch: std::sync::OnceLock<super::watch::Watch>,
}

/// How a fleet's readers treat writers that stopped: the deadline of the stuck-writer rule, and
/// how often a caught-up reader looks at the head (see [`Ring::with_head_check_polls`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadPolicy {
    pub(crate) stuck_after: Duration,
    pub(crate) head_check_polls: u32,
}

/// A fleet ring as one operation sees it: the ring, and the segment whose liveness locks tell
/// whether its writers live (the same segment: a retirement between the two must not make the
/// locks of a new segment judge the writers of an old one).
pub(super) struct View<'a, const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    pub(super) ring: Ring<'a, N>,
    #[cfg(all(feature = "shm", target_os = "linux"))]
    segment: Option<&'a shm::MemberSegment<N>>,
}

impl<'a, const N: usize> View<'a, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Which memory the view is of: the segment's address (segments stay put until their
    /// store drops), 0 in-process. A lease is only ever used on the memory it was taken on.
    #[inline]
    pub(super) fn place(&self) -> usize {
        #[cfg(all(feature = "shm", target_os = "linux"))]
        if let Some(segment) = self.segment {
            return core::ptr::from_ref(segment) as usize;
        }
        0
    }

    /// The retired word of the view's segment (see [`Segment::is_retired`]); `None`
    /// in-process.
    ///
    /// [`Segment::is_retired`]: crate::shm::Segment::is_retired
    pub(super) fn retired_flag(&self) -> Option<&'a crate::sync::AtomicU64> {
        #[cfg(all(feature = "shm", target_os = "linux"))]
        if let Some(segment) = self.segment {
            return Some(segment.segment().retired_flag());
        }
        None
    }

    /// True if the view's segment was retired (its members move to a fresh one on their next
    /// operation); never in-process.
    fn is_retired(&self) -> bool {
        #[cfg(all(feature = "shm", target_os = "linux"))]
        if let Some(segment) = self.segment {
            return segment.segment().is_retired();
        }
        false
    }

    /// True only if the kernel says the writer tagged `tag` is gone (its process died, zombie
    /// or not, in any pid namespace). In-process rings have no such writers.
    fn is_gone(&self, tag: u32) -> bool {
        #[cfg(all(feature = "shm", target_os = "linux"))]
        if let Some(segment) = self.segment {
            return segment.is_gone(tag);
        }
        let _ = tag;
        false
    }

    /// Breaks the writer lease if the kernel says its holder (or, for a lease being closed,
    /// its closer) is gone — a process killed holding a [`FleetWriter`], an `ExclusiveWriter`
    /// of a fleet ring handle, or a reset. Returns the slot it died writing to service.
    fn break_dead_lease(&self) -> bool {
        self.ring.lease_holder().is_some_and(|holder| {
            self.is_gone(holder.owner()) && self.ring.break_lease(holder, self.ring.owner())
        })
    }

    /// If the multi-writer holding internal counter `counter`'s slot mid-write is gone,
    /// returns the slot to service (readers count that frame unavailable).
    pub(super) fn recover_dead_slot(&self, counter: u64) -> bool {
        self.ring
            .writer_of(counter)
            .is_some_and(|tag| self.is_gone(tag) && self.ring.recover_counter(counter, tag))
    }

    /// Returns the slot `cursor` waits on to service if its writer is gone: a tagged
    /// multi-writer through the slot's `writer` word, an exclusive writer through its lease.
    fn recover_stalled(&self, cursor: &Cursor) -> bool {
        match self.ring.stalled_writer(cursor) {
            Some(tag) => self.is_gone(tag) && self.ring.recover_stalled(cursor, tag),
            None => self.ring.writer_leased() && self.break_dead_lease(),
        }
    }
}

/// The retry policy of a fleet publish, lease take or reset that a ring refused: a transient
/// refusal is retried a few times; a refusal by a lease — held, being reset, or being closed —
/// whose holder the kernel says is dead breaks that lease (once) and retries; a slot held by a
/// dead multi-writer is returned to service and the publish retried.
#[derive(Default)]
pub(super) struct Retry {
    attempts: usize,
    broke: bool,
}

impl Retry {
    /// True if the operation that failed with `error` should run again.
    pub(super) fn again<const N: usize>(&mut self, view: &View<'_, N>, error: PublishError) -> bool
    where
        PayloadSize<N>: SupportedPayload,
    {
        if self.attempts + 1 >= PUBLISH_ATTEMPTS {
            return false;
        }
        self.attempts += 1;
        match error {
            PublishError::Leased | PublishError::Resetting | PublishError::LeaseEnding
                if self.broke_dead_lease(view) =>
            {
                true
            }
            PublishError::SlotBusy { holder, .. } => {
                view.recover_dead_slot(holder);
                true
            }
            e => e.is_transient(),
        }
    }

    /// Breaks the lease if its holder is dead, at most once per operation (each look at a
    /// holder asks the kernel).
    fn broke_dead_lease<const N: usize>(&mut self, view: &View<'_, N>) -> bool
    where
        PayloadSize<N>: SupportedPayload,
    {
        if self.broke {
            return false;
        }
        self.broke = view.break_dead_lease();
        self.broke
    }
}

impl<const N: usize> RingStore<N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Payload bytes of this ring's slots.
    pub(crate) const fn payload(&self) -> usize {
        N
    }

    /// Retires the ring's segment (see [`Fleet::unlink`]); nothing in-process.
    pub(super) fn retire(&self) -> Result<()> {
        match &self.storage {
            Storage::Local(_) => Ok(()),
            #[cfg(all(feature = "shm", target_os = "linux"))]
            Storage::Shm(attached) => attached.retire(),
        }
    }

    /// Removes the ring's segment name without retiring it (see [`Fleet::remove_names`]).
    pub(super) fn remove_name(&self) -> Result<()> {
        match &self.storage {
            Storage::Local(_) => Ok(()),
            #[cfg(all(feature = "shm", target_os = "linux"))]
            Storage::Shm(attached) => {
                attached.current().segment().unlink_if_named()?;
                Ok(())
            }
        }
    }

    /// True if this handle created the ring's segment (in-process: always).
    pub(super) fn created(&self) -> bool {
        match &self.storage {
            Storage::Local(_) => true,
            #[cfg(all(feature = "shm", target_os = "linux"))]
            Storage::Shm(attached) => attached.current().segment().created(),
        }
    }

    #[inline]
    pub(super) fn view(&self) -> View<'_, N> {
        self.view_lane(0)
    }

    /// The view of lane `lane` (a ring's only lane is 0; per-node lanes: the node id).
    ///
    /// # Panics
    ///
    /// If `lane` is not below [`lanes`](Self::lanes).
    #[inline]
    pub(super) fn view_lane(&self, lane: usize) -> View<'_, N> {
        let (ring, segment) = match &self.storage {
            Storage::Local(owned) => (owned.lane(lane), None),
            #[cfg(all(feature = "shm", target_os = "linux"))]
            Storage::Shm(attached) => {
                let segment = attached.current();
                (segment.lane(lane), Some(segment))
            }
        };
        #[cfg(not(all(feature = "shm", target_os = "linux")))]
        let _: Option<()> = segment;
        View {
            ring: ring
                .with_kind(self.kind)
                .with_node(self.node)
                .with_head_check_polls(self.read.head_check_polls),
            #[cfg(all(feature = "shm", target_os = "linux"))]
            segment,
        }
    }

    pub(crate) fn ring(&self) -> Ring<'_, N> {
        self.view().ring
    }

    /// Rings in the store: 1, or one per node for per-node lanes.
    pub(super) fn lanes(&self) -> usize {
        match &self.storage {
            Storage::Local(owned) => owned.lanes(),
            #[cfg(all(feature = "shm", target_os = "linux"))]
            Storage::Shm(attached) => attached.current().segment().layout().lanes as usize,
        }
    }

    /// The ring's watch (async waits, readiness descriptors), created on first use.
    #[cfg(unix)]
    pub(super) fn watch(&self) -> &super::watch::Watch {
        self.watch.get_or_init(Default::default)
    }

    /// True for a read-policy observer's ring: mapped read-only, so nothing may store.
    pub(super) fn read_only(&self) -> bool {
        match &self.storage {
            Storage::Local(_) => false,
            #[cfg(all(feature = "shm", target_os = "linux"))]
            Storage::Shm(attached) => attached.read_only(),
        }
    }

    /// [`Error::ReadOnly`] for a read-only ring, before any store could reach it.
    pub(super) fn check_writable(&self) -> Result<()> {
        #[cfg(all(feature = "shm", target_os = "linux"))]
        if let Storage::Shm(attached) = &self.storage {
            attached.check_writable()?;
        }
        Ok(())
    }

    pub(crate) fn publish(&self, frame_kind: u8, version: u64, payload: &[u8]) -> Result<NetId64> {
        self.publish_after(0, None, frame_kind, version, payload)
    }

    /// Commits `count` loss markers (see [`Ring::publish_lost`]), each retried like a publish.
    pub(crate) fn publish_lost(&self, count: u32) -> Result<()> {
        self.check_writable()?;
        let view = self.view();
        for _ in 0..count {
            let mut retry = Retry::default();
            loop {
                match view.ring.publish_void() {
                    Ok(()) => break,
                    Err(e) if retry.again(&view, e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// [`publish`](Self::publish) into lane `lane`, after a first attempt that failed with
    /// `failed` (a handle's attempt on its hot ring; `None`: no attempt yet): that failure
    /// counts as the retry policy's first.
    pub(super) fn publish_after(
        &self,
        lane: usize,
        mut failed: Option<PublishError>,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64> {
        self.check_writable()?;
        let view = self.view_lane(lane);
        let mut retry = Retry::default();
        loop {
            if let Some(e) = failed
                && !retry.again(&view, e)
            {
                return Err(e.into());
            }
            match view.ring.publish(frame_kind, version, payload) {
                Ok(id) => return Ok(id),
                Err(e) => failed = Some(e),
            }
        }
    }

    /// Takes the writer lease for this member, breaking a dead holder's first; returns it with
    /// the ring it holds on, kept (a [`HotRing`], whose place is the lease's).
    pub(super) fn take_lease(self: &Arc<Self>) -> Result<(Lease, HotRing<N>)> {
        self.check_writable()?;
        let view = self.view();
        let owner = view.ring.owner();
        let mut retry = Retry::default();
        loop {
            match view.ring.take_lease(owner, HELD) {
                // The lease and its hot ring from one view: the same segment.
                Ok(lease) => return Ok((lease, HotRing::new(self, &view))),
                // Held by a live writer: final for a taker.
                Err(PublishError::Leased) => {
                    if !retry.broke_dead_lease(&view) {
                        return Err(PublishError::Leased.into());
                    }
                }
                Err(e) if retry.again(&view, e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Resets the ring under a lease recorded for this member: retries while another reset
    /// runs, breaks a dead holder's lease first.
    pub(crate) fn reset(&self) -> Result<()> {
        self.check_writable()?;
        let view = self.view();
        let mut retry = Retry::default();
        loop {
            match view.ring.reset() {
                Ok(()) => return Ok(()),
                Err(e) if retry.again(&view, e) => std::thread::yield_now(),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Polls with the deadline-based stuck-writer rule, delivering at most `limit` frames (the
    /// cursor then rests on the first one not delivered).
    #[inline]
    pub(crate) fn poll(
        &self,
        cursor: &mut RingCursor,
        limit: usize,
        visit: impl FnMut(FrameRef<'_>),
    ) -> Poll {
        self.poll_in(0, cursor, limit, visit)
    }

    /// [`poll`](Self::poll) of lane `lane`.
    #[inline]
    pub(super) fn poll_in(
        &self,
        lane: usize,
        cursor: &mut RingCursor,
        limit: usize,
        visit: impl FnMut(FrameRef<'_>),
    ) -> Poll {
        let next = cursor.cursor.next_counter();
        let view = self.view_lane(lane);
        let patience = match cursor.stalled {
            Some(Stall::Since(counter, since))
                if counter == next && since.elapsed() >= self.read.stuck_after =>
            {
                // The writer had its time. If the kernel says it is gone, its slot returns to
                // service (a void frame every reader counts unavailable, once); if it lives —
                // stopped, say — it keeps the slot and this reader gives up on the counter.
                // A read-only ring is never recovered (that stores): its reader gives up.
                if !self.read_only() {
                    view.recover_stalled(&cursor.cursor);
                }
                Patience::GiveUpOn(counter)
            }
            _ => Patience::Wait,
        };
        self.poll_ring(&view.ring, patience, cursor, limit, visit)
    }

    /// Polls `ring` (this store's) with `patience` and notes a stall on the cursor: the rest
    /// of [`poll_in`](Self::poll_in), and a handle's hot path (`FleetRing::poll_with_limit`).
    /// Always inlined: returned from a call, the `Poll` went through the stack, and reading it
    /// back missed store-to-load forwarding on every poll (the `fleet` bench showed it).
    #[inline(always)]
    pub(super) fn poll_ring(
        &self,
        ring: &Ring<'_, N>,
        patience: Patience,
        cursor: &mut RingCursor,
        limit: usize,
        visit: impl FnMut(FrameRef<'_>),
    ) -> Poll {
        let poll = ring.poll_limit(&mut cursor.cursor, patience, limit, visit);
        // Nothing to note, and nothing to clear, on almost every poll.
        if poll.stalled_at.is_some() || cursor.stalled.is_some() {
            cursor.stalled = match (poll.stalled_at, cursor.stalled) {
                (None, _) => None,
                (Some(now), Some(Stall::Since(then, since))) if now == then => {
                    Some(Stall::Since(then, since))
                }
                (Some(now), Some(Stall::Seen(then))) if now == then => {
                    Some(Stall::Since(now, Instant::now()))
                }
                (Some(now), _) => Some(Stall::Seen(now)),
            };
        }
        poll
    }

    /// Blocks until a poll of `cursor` has something — frames, loss, a reset, a move to a
    /// fresh segment — or `timeout` passes. A counter whose writer stalled ends the wait when
    /// the cursor has waited the fleet's `stuck_after` on it (the poll then gives up on it or
    /// recovers it), or at once if the cursor's clock on it has not started (the next poll
    /// starts it: see [`Stall`]).
    pub(crate) fn wait(&self, cursor: &RingCursor, timeout: Duration) -> Waited {
        let deadline = Instant::now().checked_add(timeout);
        let stuck = self.stuck_deadline(cursor);
        let view = self.view();
        let until = match (deadline, stuck) {
            (Some(d), Some(s)) => Some(d.min(s)),
            (d, s) => d.or(s),
        };
        match view
            .ring
            .wait_for(until, !self.read_only(), || self.has_news(&view, cursor))
        {
            Waited::TimedOut if stuck.is_some_and(|s| Instant::now() >= s) => Waited::Ready,
            waited => waited,
        }
    }

    /// When a poll of `cursor` gives up on (or recovers) the stalled counter it waits on, if
    /// it waits on one.
    fn stuck_deadline(&self, cursor: &RingCursor) -> Option<Instant> {
        match cursor.stalled {
            Some(Stall::Since(_, since)) => since.checked_add(self.read.stuck_after),
            _ => None,
        }
    }

    /// True if a poll of `cursor` now would have something: frames, loss, a reset, a move to
    /// a fresh segment, a stalled counter whose clock the cursor has not started (the poll
    /// starts it), or one it has waited `stuck_after` on. Reads only.
    pub(super) fn has_news(&self, view: &View<'_, N>, cursor: &RingCursor) -> bool {
        if view.is_retired() {
            return true;
        }
        let poll = view.ring.probe(&cursor.cursor);
        if !poll.is_empty() || poll.rewound {
            return true;
        }
        match (poll.stalled_at, cursor.stalled) {
            (None, _) => false,
            (Some(at), Some(Stall::Since(waited_on, _))) if at == waited_on => self
                .stuck_deadline(cursor)
                .is_some_and(|stuck| Instant::now() >= stuck),
            (Some(_), _) => true,
        }
    }

    pub(crate) fn cursor_at_head(&self) -> RingCursor {
        RingCursor::at(self.ring().cursor_at_head())
    }
}

//! Fleets: named groups of peers (node ids) sharing typed rings, in one process or (feature
//! `shm`) across processes over shared memory.
//!
//! Files: `mod.rs` — [`Fleet`], [`FleetRing`], [`RingCursor`], [`RingPoll`]; `orbital.rs` —
//! [`Orbital`]; `shm.rs` — segment storage for shared-memory rings. In-process rings are
//! [`OwnedRing`](crate::OwnedRing)s.
//!
//! Every ring of a fleet has slots of [`PAYLOAD_MAX`] bytes; each [`OrbitTyped`] type selects
//! one ring by its `KIND`. Rings open lazily on first use; attach and I/O errors are returned,
//! never turned into an empty ring.

mod local;
mod orbital;
#[cfg(all(feature = "shm", target_os = "linux"))]
mod shm;
mod value;

use core::marker::PhantomData;
use std::collections::HashMap;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::error::{Error, Result};
use crate::id::{NetId64, NodeId};
use crate::ring::{Cursor, Frame, FrameRef, HELD, Lease, Loss, Patience, Poll, PublishError, Ring};
pub use crate::shm::{GroupAccess, Sharing};
use crate::typed::OrbitTyped;
pub use orbital::Orbital;
pub use value::{Sample, ValuePoll};

/// Payload bytes of every fleet ring slot (slots are 512 bytes with their header).
pub const PAYLOAD_MAX: usize = 480;

/// A frame copied out of a fleet ring.
pub type FleetFrame = Frame<PAYLOAD_MAX>;

/// Nodes in a fleet unless [`FleetBuilder::size`] says otherwise.
pub const DEFAULT_FLEET_SIZE: u16 = 256;

/// How long a reader waits for a writer stuck mid-write (while later frames are committed)
/// before counting its frame unavailable, unless [`FleetBuilder::stuck_after`] says otherwise.
pub const DEFAULT_STUCK_AFTER: Duration = Duration::from_millis(50);

/// How many times `publish` retries a frame its writer had to abandon (slot held by a stuck
/// writer, or lapped) before returning the error.
const PUBLISH_ATTEMPTS: usize = 8;

/// Where a fleet's rings live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Heap memory of this fleet handle.
    InProcess,
    /// POSIX shared memory, one segment per ring.
    SharedMemory,
}

/// A reader's cursor on a fleet ring: a core [`Cursor`] plus when it started waiting for a
/// stuck writer (the `std` layer's stuck-writer rule is a deadline, not a poll count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingCursor {
    cursor: Cursor,
    stalled: Option<(u64, Instant)>,
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

    fn at(cursor: Cursor) -> Self {
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RingPoll {
    /// Delivered frames, in counter order.
    pub frames: Vec<FleetFrame>,
    /// Counters passed without delivery.
    pub loss: Loss,
    /// The ring was reset since the cursor's last poll.
    pub rewound: bool,
}

enum Storage {
    Local(crate::OwnedRing<PAYLOAD_MAX>),
    #[cfg(all(feature = "shm", target_os = "linux"))]
    Shm(shm::Attached),
}

/// One opened ring of a fleet.
pub(crate) struct RingStore {
    storage: Storage,
    declared: usize,
    capacity: usize,
    kind: u8,
    node: NodeId,
    read: ReadPolicy,
}

/// How a fleet's readers treat writers that stopped: the deadline of the stuck-writer rule, and
/// how often a caught-up reader looks at the head (see [`Ring::with_head_check_polls`]).
#[derive(Clone, Copy, Debug)]
struct ReadPolicy {
    stuck_after: Duration,
    head_check_polls: u32,
}

/// A fleet ring as one operation sees it: the ring, and the segment whose liveness locks tell
/// whether its writers live (the same segment: a retirement between the two must not make the
/// locks of a new segment judge the writers of an old one).
struct View<'a> {
    ring: Ring<'a, PAYLOAD_MAX>,
    #[cfg(all(feature = "shm", target_os = "linux"))]
    segment: Option<&'a shm::MemberSegment>,
}

impl View<'_> {
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
    fn recover_dead_slot(&self, counter: u64) -> bool {
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
struct Retry {
    attempts: usize,
    broke: bool,
}

impl Retry {
    /// True if the operation that failed with `error` should run again.
    fn again(&mut self, view: &View<'_>, error: PublishError) -> bool {
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
    fn broke_dead_lease(&mut self, view: &View<'_>) -> bool {
        if self.broke {
            return false;
        }
        self.broke = view.break_dead_lease();
        self.broke
    }
}

impl RingStore {
    fn view(&self) -> View<'_> {
        let (ring, segment) = match &self.storage {
            Storage::Local(owned) => (owned.ring(), None),
            #[cfg(all(feature = "shm", target_os = "linux"))]
            Storage::Shm(attached) => {
                let segment = attached.current();
                (segment.ring(), Some(segment))
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

    pub(crate) fn ring(&self) -> Ring<'_, PAYLOAD_MAX> {
        self.view().ring
    }

    /// True for a read-policy observer's ring: mapped read-only, so nothing may store.
    fn read_only(&self) -> bool {
        match &self.storage {
            Storage::Local(_) => false,
            #[cfg(all(feature = "shm", target_os = "linux"))]
            Storage::Shm(attached) => attached.read_only(),
        }
    }

    /// [`Error::ReadOnly`] for a read-only ring, before any store could reach it.
    fn check_writable(&self) -> Result<()> {
        #[cfg(all(feature = "shm", target_os = "linux"))]
        if let Storage::Shm(attached) = &self.storage {
            attached.check_writable()?;
        }
        Ok(())
    }

    pub(crate) fn publish(&self, frame_kind: u8, version: u64, payload: &[u8]) -> Result<NetId64> {
        self.check_writable()?;
        let view = self.view();
        let mut retry = Retry::default();
        loop {
            match view.ring.publish(frame_kind, version, payload) {
                Ok(id) => return Ok(id),
                Err(e) if retry.again(&view, e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Takes the writer lease for this member, breaking a dead holder's first.
    fn take_lease(&self) -> Result<Lease> {
        self.check_writable()?;
        let view = self.view();
        let owner = view.ring.owner();
        let mut retry = Retry::default();
        loop {
            match view.ring.take_lease(owner, HELD) {
                Ok(lease) => return Ok(lease),
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

    /// Polls with the deadline-based stuck-writer rule.
    pub(crate) fn poll(&self, cursor: &mut RingCursor, visit: impl FnMut(FrameRef<'_>)) -> Poll {
        let next = cursor.cursor.next_counter();
        let view = self.view();
        let patience = match cursor.stalled {
            Some((counter, since))
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
        let poll = view.ring.poll_with(&mut cursor.cursor, patience, visit);
        cursor.stalled = match (poll.stalled_at, cursor.stalled) {
            (Some(now), Some((then, since))) if now == then => Some((then, since)),
            (Some(now), _) => Some((now, Instant::now())),
            (None, _) => None,
        };
        poll
    }

    pub(crate) fn cursor_at_head(&self) -> RingCursor {
        RingCursor::at(self.ring().cursor_at_head())
    }
}

/// A handle on one typed ring of a fleet: the per-type operations without the fleet's ring
/// lookup. Cheap to clone; keeps the ring (and its mapping) alive.
pub struct FleetRing<T> {
    store: Arc<RingStore>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for FleetRing<T> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> core::fmt::Debug for FleetRing<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FleetRing")
            .field("kind", &self.store.kind)
            .field("capacity", &self.store.capacity)
            .finish_non_exhaustive()
    }
}

impl<T: OrbitTyped> FleetRing<T> {
    /// Publishes one frame of raw bytes (for frames that are not one `Pod` value: events,
    /// variable payloads); retries a few times if the writer had to abandon its counter.
    ///
    /// Fails with [`PublishError::Leased`] while a [`FleetWriter`] holds the ring, unless its
    /// holder's process is gone: then its lease is broken and the publish goes ahead.
    pub fn publish_frame(&self, frame_kind: u8, version: u64, payload: &[u8]) -> Result<NetId64> {
        self.store.publish(frame_kind, version, payload)
    }

    /// Takes the ring's writer lease for this handle: the one-writer publish path (see
    /// [`ExclusiveWriter`](crate::ExclusiveWriter)), for every process of the fleet, until the
    /// returned writer is dropped. A lease whose holder's process is gone is broken first.
    pub fn exclusive_writer(&self) -> Result<FleetWriter<T>> {
        Ok(FleetWriter {
            lease: self.store.take_lease()?,
            store: self.store.clone(),
            _type: PhantomData,
        })
    }

    /// Hands every frame after `cursor` to `visit` without allocating.
    pub fn poll_with(&self, cursor: &mut RingCursor, visit: impl FnMut(FrameRef<'_>)) -> Poll {
        self.store.poll(cursor, visit)
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

    /// The newest committed frame.
    #[must_use]
    pub fn read_head(&self) -> Option<FleetFrame> {
        self.store.ring().read_head()
    }

    /// The frame with exactly this id, if the ring still holds it.
    #[must_use]
    pub fn read(&self, id: NetId64) -> Option<FleetFrame> {
        self.store.ring().read(id)
    }

    /// The next counter the ring will hand out.
    #[must_use]
    pub fn head(&self) -> u64 {
        self.store.ring().head()
    }

    /// A cursor that sees only frames published after this call.
    #[must_use]
    pub fn cursor_at_head(&self) -> RingCursor {
        self.store.cursor_at_head()
    }

    /// Empties the ring: a new generation starts at the head, live cursors rewind (see
    /// [`Ring::reset`]). Fails with [`PublishError::Leased`] while a live [`FleetWriter`]
    /// holds the ring (a dead holder's lease is broken first); the lease holder itself resets
    /// with [`FleetWriter::reset`].
    pub fn reset(&self) -> Result<()> {
        self.store.reset()
    }

    /// The core ring handle (kind and node set), for hot loops.
    ///
    /// # Errors
    ///
    /// [`Error::ReadOnly`] on a fleet this process only reads (a group's read policy): a core
    /// `Ring` can publish and reset, and its memory is mapped read-only.
    pub fn ring(&self) -> Result<Ring<'_, PAYLOAD_MAX>> {
        self.store.check_writable()?;
        Ok(self.store.ring())
    }

    /// Slots in the ring.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.store.capacity
    }
}

/// The one writer of a fleet ring, from [`FleetRing::exclusive_writer`]: publishes without
/// atomic read-modify-writes while other publishers are refused. Dropping it hands the ring
/// back to [`FleetRing::publish`]; if its process dies, the next publisher or writer that finds
/// the lease breaks it.
pub struct FleetWriter<T> {
    store: Arc<RingStore>,
    lease: Lease,
    _type: PhantomData<fn() -> T>,
}

impl<T> core::fmt::Debug for FleetWriter<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FleetWriter")
            .field("kind", &self.store.kind)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl<T: OrbitTyped> FleetWriter<T> {
    /// Publishes one frame of raw bytes; retries a few times if the writer had to abandon its
    /// counter (a slot still held by a writer from before the lease).
    pub fn publish_frame(
        &mut self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64> {
        let view = self.store.view();
        let mut retry = Retry::default();
        loop {
            match self.lease.publish(&view.ring, frame_kind, version, payload) {
                Ok(id) => return Ok(id),
                // A slot a dead multi-writer left mid-write returns to service here (the frame
                // abandoned on it is counted by readers), so the next lap takes it.
                Err(e) if retry.again(&view, e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl<T: OrbitTyped> FleetWriter<T> {
    /// Empties the ring from the lease holder (see [`ExclusiveWriter::reset`](crate::ExclusiveWriter::reset));
    /// the writer keeps the lease.
    pub fn reset(&mut self) -> Result<()> {
        Ok(self.lease.reset(&self.store.ring())?)
    }
}

impl<T> Drop for FleetWriter<T> {
    fn drop(&mut self) {
        self.lease.release(&self.store.ring());
    }
}

/// A named group of peers sharing typed rings. Its handles carry the verbs:
/// [`ring::<T>()`](Fleet::ring) opens `T`'s ring once and returns a [`FleetRing`], whose
/// publish and poll do no locking and no lookups.
///
/// ```
/// use orbit_rs::bytemuck::{Pod, Zeroable};
/// use orbit_rs::{Fleet, OrbitTyped, RingCursor};
///
/// #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
/// #[bytemuck(crate = "orbit_rs::bytemuck")] // no bytemuck dependency of your own needed
/// #[repr(C)]
/// struct Temperature {
///     celsius: f32,
/// }
/// impl OrbitTyped for Temperature {
///     const KIND: u8 = 10;
/// }
///
/// let fleet = Fleet::join("doc-fleet", 4)?; // node 0 of 4, in-process
/// let temperatures = fleet.ring::<Temperature>()?;
/// let mut cursor = RingCursor::from_start();
/// temperatures.publish(&Temperature { celsius: 21.5 })?;
/// let poll = temperatures.poll(&mut cursor);
/// assert_eq!(poll.values[0].value, Temperature { celsius: 21.5 });
/// # Ok::<(), orbit_rs::Error>(())
/// ```
pub struct Fleet {
    name: String,
    node: NodeId,
    size: u16,
    backing: Backing,
    read: ReadPolicy,
    /// This handle's standing in a shared-memory fleet: its sharing policy and membership
    /// (node id, liveness tag), or a read-policy observer's lack of one.
    #[cfg(all(feature = "shm", target_os = "linux"))]
    member: Option<shm::Membership>,
    /// The rings of an in-process fleet, shared by every handle of this process that joined
    /// the same name.
    local: Option<Arc<local::LocalRings>>,
    rings: Mutex<HashMap<u8, Arc<RingStore>>>,
}

impl core::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Fleet")
            .field("name", &self.name)
            .field("node", &self.node)
            .field("size", &self.size)
            .field("backing", &self.backing)
            .finish_non_exhaustive()
    }
}

/// Options for joining a fleet.
#[derive(Clone, Debug)]
pub struct FleetBuilder {
    name: String,
    node: NodeId,
    size: u16,
    read: ReadPolicy,
    sharing: Sharing,
}

impl FleetBuilder {
    /// This peer's node id (default 0).
    #[must_use]
    pub fn node(mut self, node: impl Into<NodeId>) -> Self {
        self.node = node.into();
        self
    }

    /// Number of nodes; node ids must be below it (default [`DEFAULT_FLEET_SIZE`]).
    #[must_use]
    pub fn size(mut self, size: u16) -> Self {
        self.size = size;
        self
    }

    /// The stuck-writer deadline (default [`DEFAULT_STUCK_AFTER`]): how long a reader waits on
    /// a counter whose writer stopped before counting it lost. The wait starts once the reader
    /// sees the stall: at once for a slot left half-written, within
    /// [`Ring::DEFAULT_HEAD_CHECK_POLLS`] polls for a counter whose writer stopped before
    /// taking its slot.
    #[must_use]
    pub fn stuck_after(mut self, wait: Duration) -> Self {
        self.read.stuck_after = wait;
        self
    }

    /// How often a caught-up reader of this fleet's rings looks at the head for counters whose
    /// writer stopped before taking its slot (default
    /// [`Ring::DEFAULT_HEAD_CHECK_POLLS`]; see [`Ring::with_head_check_polls`]). Readers that
    /// poll rarely and want such writers noticed within `stuck_after` of real time set a small
    /// period (1: every poll); spinning readers keep the default, which stays off the writers'
    /// cache line.
    #[must_use]
    pub fn head_check_polls(mut self, polls: u32) -> Self {
        self.read.head_check_polls = polls;
        self
    }

    /// Who may use the fleet's shared memory (default [`Sharing::Owner`]: this user only); used
    /// by [`join_shm`](Self::join_shm), ignored in-process. A group fleet has names of its own
    /// (`/orbit-{fleet}-{kind}-g{gid}`), so it never meets the owner-only fleet of the same
    /// name. Under [`GroupAccess::Read`] the user that created the fleet (the first to join)
    /// writes and every process of another user joins as a read-only observer
    /// ([`Error::ReadOnly`] on publish, lease, reset, [`FleetRing::ring`]); its rings must
    /// exist before it opens them.
    ///
    /// ```no_run
    /// use orbit_rs::Fleet;
    /// use orbit_rs::fleet::{GroupAccess, Sharing};
    ///
    /// let fleet = Fleet::builder("plant-a")
    ///     .node(3)
    ///     .sharing(Sharing::Group { gid: 1001, access: GroupAccess::ReadWrite })
    ///     .join_shm()?;
    /// # Ok::<(), orbit_rs::Error>(())
    /// ```
    #[must_use]
    pub fn sharing(mut self, sharing: Sharing) -> Self {
        self.sharing = sharing;
        self
    }

    fn build(self, backing: Backing) -> Result<Fleet> {
        crate::shm::check_fleet_name(&self.name)?;
        if self.size == 0 {
            return Err(Error::EmptyFleet);
        }
        if self.node.get() >= self.size {
            return Err(Error::NodeOutsideFleet {
                node: self.node,
                size: self.size,
            });
        }
        Ok(Fleet {
            name: self.name,
            node: self.node,
            size: self.size,
            backing,
            read: self.read,
            #[cfg(all(feature = "shm", target_os = "linux"))]
            member: None,
            local: None,
            rings: Mutex::new(HashMap::new()),
        })
    }

    /// Joins with rings in this process's memory: every handle of this process that joins
    /// the same fleet name shares its rings (the in-process twin of shared memory), for as
    /// long as one of them lives.
    pub fn join(self) -> Result<Fleet> {
        let mut fleet = self.build(Backing::InProcess)?;
        fleet.local = Some(local::rings_of(&fleet.name));
        Ok(fleet)
    }

    /// Joins with rings in POSIX shared memory (needs the `shm` feature on Linux) as a
    /// member of the fleet: fails with [`ShmError::NodeInUse`](crate::shm::ShmError::NodeInUse)
    /// while another live member (in any process, this one included) holds the node id. Under a
    /// group's [read policy](Self::sharing), a process of a user that does not own the fleet
    /// joins as an observer instead (no node id taken). Fails with
    /// [`ShmError::NotInGroup`](crate::shm::ShmError::NotInGroup) for a group this process is
    /// not a member of.
    pub fn join_shm(self) -> Result<Fleet> {
        #[cfg(all(feature = "shm", target_os = "linux"))]
        {
            let sharing = self.sharing;
            let mut fleet = self.build(Backing::SharedMemory)?;
            fleet.member = Some(shm::join(&fleet.name, fleet.node, sharing)?);
            Ok(fleet)
        }
        #[cfg(not(all(feature = "shm", target_os = "linux")))]
        {
            let _ = self.sharing;
            Err(Error::ShmUnsupported)
        }
    }
}

impl Fleet {
    /// Options for joining fleet `name`.
    #[must_use]
    pub fn builder(name: &str) -> FleetBuilder {
        FleetBuilder {
            name: name.to_string(),
            node: NodeId(0),
            size: DEFAULT_FLEET_SIZE,
            read: ReadPolicy {
                stuck_after: DEFAULT_STUCK_AFTER,
                head_check_polls: Ring::<PAYLOAD_MAX>::DEFAULT_HEAD_CHECK_POLLS,
            },
            sharing: Sharing::Owner,
        }
    }

    /// Joins fleet `name` of `size` nodes as node 0, with rings in this process's memory
    /// shared by every handle that joins the same name (as in the reference system:
    /// `Fleet::join("plant", 1)`). [`Error::EmptyFleet`] for size 0.
    pub fn join(name: &str, size: u16) -> Result<Self> {
        Self::builder(name).size(size).join()
    }

    /// [`join`](Fleet::join) as `node` (below `size`).
    pub fn join_as(name: &str, size: u16, node: impl Into<NodeId>) -> Result<Self> {
        Self::builder(name).size(size).node(node).join()
    }

    /// Joins fleet `name` of `size` nodes as node 0, with rings in POSIX shared memory: the
    /// twin of [`join`](Fleet::join) across processes (needs the `shm` feature on Linux).
    /// Node ids are unique among a shared-memory fleet's live members: use
    /// [`join_shm_as`](Fleet::join_shm_as) for every member but one.
    pub fn join_shm(name: &str, size: u16) -> Result<Self> {
        Self::builder(name).size(size).join_shm()
    }

    /// [`join_shm`](Fleet::join_shm) as `node` (below `size`).
    pub fn join_shm_as(name: &str, size: u16, node: impl Into<NodeId>) -> Result<Self> {
        Self::builder(name).size(size).node(node).join_shm()
    }

    /// The fleet's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This peer's node id.
    #[must_use]
    pub fn node_id(&self) -> NodeId {
        self.node
    }

    /// The number of nodes.
    #[must_use]
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Where the rings live.
    #[must_use]
    pub fn backing(&self) -> Backing {
        self.backing
    }

    /// Opens (or returns) the ring of `kind` with `capacity` slots; `declared` is the spec a
    /// type declares for it.
    fn open(&self, kind: u8, declared: usize, capacity: Option<usize>) -> Result<Arc<RingStore>> {
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = rings.get(&kind) {
            if store.declared != declared {
                return Err(Error::SpecMismatch {
                    kind,
                    expected: store.declared,
                    found: declared,
                });
            }
            if let Some(capacity) = capacity.filter(|&c| c != store.capacity) {
                return Err(Error::SpecMismatch {
                    kind,
                    expected: store.capacity,
                    found: capacity,
                });
            }
            return Ok(store.clone());
        }
        let capacity = capacity.unwrap_or(declared);
        let storage = match self.backing {
            Backing::InProcess => {
                let local = self.local.as_ref().ok_or(Error::ShmUnsupported)?;
                Storage::Local(local.ring(kind, capacity)?)
            }
            #[cfg(all(feature = "shm", target_os = "linux"))]
            Backing::SharedMemory => {
                let member = self.member.clone().ok_or(Error::ShmUnsupported)?;
                Storage::Shm(shm::Attached::open(&self.name, kind, capacity, member)?)
            }
            #[cfg(not(all(feature = "shm", target_os = "linux")))]
            Backing::SharedMemory => return Err(Error::ShmUnsupported),
        };
        let store = Arc::new(RingStore {
            storage,
            declared,
            capacity,
            kind,
            node: self.node,
            read: self.read,
        });
        rings.insert(kind, store.clone());
        Ok(store)
    }

    pub(crate) fn store<T: OrbitTyped>(&self) -> Result<Arc<RingStore>> {
        self.open(T::KIND, T::CAPACITY, None)
    }

    /// Opens `T`'s ring with `capacity` slots instead of `T::CAPACITY` (for example a tiny
    /// ring in tests). Must come before other use of the ring in this handle; on shared
    /// memory, every process must agree.
    pub fn ring_with_capacity<T: OrbitTyped>(&self, capacity: usize) -> Result<()> {
        self.open(T::KIND, T::CAPACITY, Some(capacity)).map(drop)
    }

    /// `T`'s ring (opening it on first use).
    pub fn ring<T: OrbitTyped>(&self) -> Result<FleetRing<T>> {
        Ok(FleetRing {
            store: self.store::<T>()?,
            _type: PhantomData,
        })
    }

    /// Retires every ring this handle has opened and removes their shared-memory names: the
    /// next join creates fresh segments, and every member still attached — in this process or
    /// another — notices on its next operation on the ring, moves to the fresh segment
    /// (creating it if first) and reports the move to its cursors as a rewind
    /// ([`RingPoll::rewound`]). Nobody is left publishing into a ring nobody else sees. A lease
    /// held on a retired ring is lost ([`PublishError::LeaseLost`]: take a new writer). `Ring`
    /// handles borrowed before stay valid but keep the old segment: borrow again. The member
    /// registry stays. A no-op in-process.
    pub fn unlink(&self) -> Result<()> {
        let rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        for store in rings.values() {
            match &store.storage {
                Storage::Local(_) => {}
                #[cfg(all(feature = "shm", target_os = "linux"))]
                Storage::Shm(attached) => attached.retire()?,
            }
        }
        Ok(())
    }

    /// Removes the shared-memory names of this handle's rings and of the fleet's member
    /// registry *without* retiring anything: attached members keep working in the segments
    /// they have, and nobody can join them any more — a later join starts a separate fleet.
    /// For a fleet whose members have all attached and none will join (a demo, a benchmark),
    /// so that nothing is left in `/dev/shm` however its processes end. To move every member
    /// to fresh segments instead, [`unlink`](Fleet::unlink). A no-op in-process.
    pub fn remove_names(&self) -> Result<()> {
        #[cfg(all(feature = "shm", target_os = "linux"))]
        {
            let rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
            for store in rings.values() {
                if let Storage::Shm(attached) = &store.storage {
                    attached.current().segment().unlink_if_named()?;
                }
            }
            if let Some(member) = &self.member {
                member.remove_registry_name(&self.name)?;
            }
        }
        Ok(())
    }

    /// True if this handle created `T`'s segment (false if it attached, or in-process).
    pub fn created_ring<T: OrbitTyped>(&self) -> Result<bool> {
        Ok(match &self.store::<T>()?.storage {
            Storage::Local(_) => true,
            #[cfg(all(feature = "shm", target_os = "linux"))]
            Storage::Shm(attached) => attached.current().segment().created(),
        })
    }

    /// Test hook: leaves a frame of `T`'s ring half-written, as a crashed writer would.
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    pub fn stall_mid_write_for_test<T: OrbitTyped>(&self, payload: &[u8]) -> Result<u64> {
        Ok(self
            .store::<T>()?
            .ring()
            .stall_mid_write_for_test(0, 0, payload, 1)?)
    }
}

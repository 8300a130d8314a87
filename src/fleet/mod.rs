//! Fleets: named groups of peers (node ids) sharing typed rings, in one process or (feature
//! `shm`) across processes over shared memory.
//!
//! Files, one part each:
//! * `mod.rs` — [`Fleet`] and [`FleetBuilder`]: joining, opening rings by type, unlinking;
//! * `handle.rs` — what users hold: [`FleetRing`] (a typed ring's verbs, no lookups),
//!   [`FleetWriter`], [`RingCursor`], [`RingPoll`];
//! * `value.rs` — typed `Pod` values on a [`FleetRing`] ([`ValuePoll`], [`Sample`]);
//! * `lanes.rs` — [`FleetLanes`]: one lane per node, the newest value of each node;
//! * `orbital.rs` — [`Orbital`], the newest value of a type;
//! * `store.rs` — an opened ring and the retry / liveness policy of its writes and reads;
//! * `local.rs` — in-process rings shared by every handle of one fleet name
//!   ([`OwnedRing`](crate::OwnedRing)s);
//! * `shm.rs` — shared-memory membership (node id, liveness tag) and segments, retirement.
//!
//! Each [`OrbitTyped`] type selects one ring by its `KIND` ([`Fleet::ring`]) and, apart from
//! it, one lane per node ([`Fleet::lanes`]); its `PAYLOAD` picks the slot class (one of
//! [`PAYLOAD_CLASSES`]). Rings open lazily on first use; attach and I/O errors are returned,
//! never turned into an empty ring.

mod handle;
mod hot;
mod lanes;
mod local;
mod orbital;
#[cfg(all(feature = "shm", target_os = "linux"))]
mod shm;
mod store;
mod value;
#[cfg(unix)]
mod watch;

use std::collections::HashMap;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::id::{NetId64, NodeId};
use crate::ring::{Cursor, Frame, FrameRef, HELD, Lease, Loss, Patience, Poll, PublishError, Ring};
pub use crate::shm::{GroupAccess, Sharing};
use crate::typed::OrbitTyped;
pub use handle::{FleetRing, FleetWriter, RingCursor, RingPoll};
pub(crate) use hot::HotRing;
pub use lanes::{FleetLanes, LanesCursor, LanesPoll};
pub use orbital::Orbital;
use store::ReadPolicy;
pub(crate) use store::{AnyStore, RingStore, Storage};
pub use value::{Drain, Sample, ValuePoll};
#[cfg(unix)]
pub use watch::{Readiness, WaitAsync};

/// Payload bytes of every fleet ring slot (slots are 512 bytes with their header).
pub const PAYLOAD_MAX: usize = 480;

/// The slot classes of fleet rings, as payload bytes: 64-, 128-, 256- and 512-byte slots. A
/// ring's class is the smallest that holds its type's [`OrbitTyped::PAYLOAD`].
pub const PAYLOAD_CLASSES: [usize; 4] = [32, 96, 224, 480];

/// The payload class of the slots that hold `payload` bytes: the smallest of
/// [`PAYLOAD_CLASSES`] at least that large, or `None` past [`PAYLOAD_MAX`]. A `const fn`, so
/// that a handle's hot path picks its class's code at compile time.
pub(crate) const fn class_of(payload: usize) -> Option<usize> {
    let mut i = 0;
    while i < PAYLOAD_CLASSES.len() {
        if PAYLOAD_CLASSES[i] >= payload {
            return Some(PAYLOAD_CLASSES[i]);
        }
        i += 1;
    }
    None
}

/// A frame copied out of a fleet ring (any class fits: its payload holds up to
/// [`PAYLOAD_MAX`] bytes).
///
/// # Examples
///
/// ```
/// use orbit_rs::{Fleet, OrbitTyped, fleet::FleetFrame};
///
/// struct Log;
/// impl OrbitTyped for Log {
///     const KIND: u8 = 13;
/// }
///
/// let fleet = Fleet::join("frame-doc", 1)?;
/// let logs = fleet.ring::<Log>()?;
/// let id = logs.publish_frame(7, 1, b"disk 91% full")?;
/// let frame: FleetFrame = logs.read(id).expect("still in the ring");
/// assert_eq!((frame.kind, &frame.payload[..]), (7, &b"disk 91% full"[..]));
/// # Ok::<(), orbit_rs::Error>(())
/// ```
pub type FleetFrame = Frame<PAYLOAD_MAX>;

/// Nodes in a fleet unless [`FleetBuilder::size`] says otherwise.
pub const DEFAULT_FLEET_SIZE: u16 = 256;

/// How long a reader waits for a writer stuck mid-write (while later frames are committed)
/// before counting its frame unavailable, unless [`FleetBuilder::stuck_after`] says otherwise.
pub const DEFAULT_STUCK_AFTER: Duration = Duration::from_millis(50);

/// How many times `publish` retries a frame its writer had to abandon (slot held by a stuck
/// writer, or lapped) before returning the error.
const PUBLISH_ATTEMPTS: usize = 8;

/// Slots in each node's lane of [`Fleet::lanes`]: a reader of the newest value finds it among
/// the last few a writer committed, however fast the writer goes.
pub const LANE_CAPACITY: usize = 4;

/// What a fleet opens under one kind: its ring, or its per-node lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RingSpec {
    pub(crate) kind: u8,
    /// Slots per ring (per lane).
    pub(crate) capacity: usize,
    /// `None`: the kind's ring; `Some(n)`: its lanes, one ring per node of a fleet of `n`.
    pub(crate) lanes: Option<u16>,
}

impl RingSpec {
    /// Rings in the spec's memory: 1, or one per node.
    pub(crate) fn lane_count(&self) -> usize {
        self.lanes.map_or(1, usize::from)
    }
}

/// Where a fleet's rings live.
///
/// # Examples
///
/// ```
/// use orbit_rs::{Backing, Fleet};
///
/// let fleet = Fleet::join("backing-doc", 2)?;
/// assert_eq!(fleet.backing(), Backing::InProcess);
/// # #[cfg(all(feature = "shm", target_os = "linux"))]
/// # {
/// let name = format!("backing-doc-{}", std::process::id());
/// let shared = Fleet::join_shm(&name, 2)?;
/// assert_eq!(shared.backing(), Backing::SharedMemory);
/// # shared.remove_names()?;
/// # }
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Heap memory of this fleet handle.
    InProcess,
    /// POSIX shared memory, one segment per ring.
    SharedMemory,
}

/// A named group of peers sharing typed rings. Its handles carry the verbs:
/// [`ring::<T>()`](Fleet::ring) opens `T`'s ring once and returns a [`FleetRing`], whose
/// publish and poll do no locking and no lookups.
///
/// # Examples
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
    /// Opened rings (`false`) and lanes (`true`), by kind.
    rings: Mutex<HashMap<(u8, bool), AnyStore>>,
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
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use orbit_rs::{Error, Fleet};
///
/// let fleet = Fleet::builder("builder-doc")
///     .size(8)
///     .node(5)
///     .stuck_after(Duration::from_millis(20))
///     .join()?; // or .join_shm() across processes
/// assert_eq!((fleet.node_id().get(), fleet.size()), (5, 8));
///
/// let err = Fleet::builder("builder-doc").size(8).node(9).join().unwrap_err();
/// assert!(matches!(err, Error::NodeOutsideFleet { .. }), "{err}");
/// # Ok::<(), orbit_rs::Error>(())
/// ```
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
    /// sees the stall: on its second poll in a row that finds the slot half-written (the
    /// first may have caught a live writer mid-write, which a spinning reader does all the
    /// time: it does not read the clock for that), within
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

    /// Opens (or returns) the ring of `kind` with `capacity` slots holding `payload` bytes
    /// (rounded up to its class), or (`lanes`) its per-node lanes; `declared` is the capacity
    /// a type declares for it.
    fn open(
        &self,
        kind: u8,
        declared: usize,
        payload: usize,
        capacity: Option<usize>,
        lanes: bool,
    ) -> Result<AnyStore> {
        let class = class_of(payload).ok_or(Error::ValueTooLarge {
            size: payload,
            max: PAYLOAD_MAX,
        })?;
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = rings.get(&(kind, lanes)) {
            let mismatch = |expected, found| {
                Err(Error::SpecMismatch {
                    kind,
                    expected,
                    found,
                })
            };
            if store.declared() != declared {
                return mismatch(store.declared(), declared);
            }
            if let Some(capacity) = capacity.filter(|&c| c != store.capacity()) {
                return mismatch(store.capacity(), capacity);
            }
            if store.payload() != class {
                return Err(Error::PayloadMismatch {
                    kind,
                    expected: store.payload(),
                    found: class,
                });
            }
            return Ok(store.clone());
        }
        let spec = RingSpec {
            kind,
            capacity: capacity.unwrap_or(declared),
            lanes: lanes.then_some(self.size),
        };
        let store = match class {
            32 => AnyStore::P32(self.open_class(spec, declared)?),
            96 => AnyStore::P96(self.open_class(spec, declared)?),
            224 => AnyStore::P224(self.open_class(spec, declared)?),
            _ => AnyStore::P480(self.open_class(spec, declared)?),
        };
        rings.insert((kind, lanes), store.clone());
        Ok(store)
    }

    /// Opens the ring (or lanes) of `spec` in slot class `N`.
    fn open_class<const N: usize>(
        &self,
        spec: RingSpec,
        declared: usize,
    ) -> Result<Arc<RingStore<N>>>
    where
        crate::ring::PayloadSize<N>: crate::ring::SupportedPayload,
    {
        let RingSpec { kind, capacity, .. } = spec;
        let storage = match self.backing {
            Backing::InProcess => {
                let local = self.local.as_ref().ok_or(Error::ShmUnsupported)?;
                Storage::Local(local.ring::<N>(spec)?)
            }
            #[cfg(all(feature = "shm", target_os = "linux"))]
            Backing::SharedMemory => {
                let member = self.member.clone().ok_or(Error::ShmUnsupported)?;
                Storage::Shm(shm::Attached::open(&self.name, spec, member)?)
            }
            #[cfg(not(all(feature = "shm", target_os = "linux")))]
            Backing::SharedMemory => return Err(Error::ShmUnsupported),
        };
        Ok(Arc::new(RingStore {
            storage,
            declared,
            capacity,
            kind,
            node: self.node,
            read: self.read,
            #[cfg(unix)]
            watch: std::sync::OnceLock::new(),
        }))
    }

    pub(crate) fn store<T: OrbitTyped>(&self) -> Result<AnyStore> {
        self.open(T::KIND, T::CAPACITY, T::PAYLOAD, None, false)
    }

    /// Opens `T`'s ring with `capacity` slots instead of `T::CAPACITY` (for example a tiny
    /// ring in tests). Must come before other use of the ring in this handle; on shared
    /// memory, every process must agree.
    pub fn ring_with_capacity<T: OrbitTyped>(&self, capacity: usize) -> Result<()> {
        self.open(T::KIND, T::CAPACITY, T::PAYLOAD, Some(capacity), false)
            .map(drop)
    }

    /// `T`'s ring (opening it on first use).
    pub fn ring<T: OrbitTyped>(&self) -> Result<FleetRing<T>> {
        Ok(FleetRing::new(self.store::<T>()?))
    }

    /// `T`'s per-node lanes (opening them on first use): one small ring per node of the
    /// fleet, [`LANE_CAPACITY`] slots each, apart from `T`'s ring. Each node publishes into
    /// its own lane; a reader gets the newest value of every node in one call
    /// ([`FleetLanes::newest`]) or what changed since its cursor ([`FleetLanes::poll`]).
    pub fn lanes<T: OrbitTyped + bytemuck::Pod>(&self) -> Result<FleetLanes<T>> {
        let store = self.open(T::KIND, LANE_CAPACITY, T::PAYLOAD, None, true)?;
        FleetLanes::new(store, self.node)
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
            store::with_store!(store, s => s.retire())?;
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
        let rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        for store in rings.values() {
            store::with_store!(store, s => s.remove_name())?;
        }
        #[cfg(all(feature = "shm", target_os = "linux"))]
        if let Some(member) = &self.member {
            member.remove_registry_name(&self.name)?;
        }
        Ok(())
    }

    /// True if this handle created `T`'s segment (false if it attached, or in-process).
    pub fn created_ring<T: OrbitTyped>(&self) -> Result<bool> {
        Ok(store::with_store!(&self.store::<T>()?, s => s.created()))
    }

    /// Test hook: leaves a frame of `T`'s ring half-written, as a crashed writer would.
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    pub fn stall_mid_write_for_test<T: OrbitTyped>(&self, payload: &[u8]) -> Result<u64> {
        Ok(store::with_store!(
            &self.store::<T>()?,
            s => s.ring().stall_mid_write_for_test(0, 0, payload, 1)
        )?)
    }
}

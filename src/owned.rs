//! [`OwnedRing`]: a ring that owns its memory, for threads of one process without a fleet.

use std::boxed::Box;
use std::sync::Arc;
use std::vec::Vec;

use crate::error::{Error, Result};
use crate::id::{NetId64, NodeId};
use crate::ring::{
    Cursor, FrameRef, HELD, Head, Lease, LeaseToken, PayloadSize, Poll, PublishError, Ring, Slot,
    SupportedPayload, check_capacity,
};

/// The slots and head of an [`OwnedRing`], on the heap: one ring per lane (a fleet's per-node
/// lanes in-process; one lane otherwise), lane `i` owning `heads[i]` and the `capacity` slots
/// from `i * capacity`.
struct Memory<const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    slots: Box<[Slot<N>]>,
    heads: Box<[Head]>,
    capacity: usize,
}

/// A ring of `capacity` slots of `N`-byte payloads that owns its memory: `Send + Sync`, and
/// cloning it is an `Arc` clone, so threads share it without `'static` buffers or lifetime
/// tricks. Every clone is a handle on the same ring; [`ring`](OwnedRing::ring) lends the core
/// [`Ring`] for everything else (`poll_with`, `poll_into`, `read_head`, `reset`, …).
///
/// # Examples
///
/// ```
/// use std::thread;
/// use orbit_rs::{Cursor, OwnedRing};
///
/// let ring = OwnedRing::<64>::new(256)?;
/// let mut writer = ring.exclusive_writer()?; // the one-writer path, movable to a thread
/// let producer = thread::spawn(move || {
///     for i in 0..100u64 {
///         writer.publish(1, i, &i.to_le_bytes()).unwrap();
///     }
/// });
/// producer.join().unwrap();
/// let mut cursor = Cursor::from_start();
/// let poll = ring.poll(&mut cursor, |frame| assert_eq!(frame.payload.len(), 8));
/// assert_eq!((poll.delivered, poll.loss.total()), (100, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct OwnedRing<const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    memory: Arc<Memory<N>>,
    kind: u8,
    node: NodeId,
}

impl<const N: usize> Clone for OwnedRing<N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn clone(&self) -> Self {
        Self {
            memory: self.memory.clone(),
            kind: self.kind,
            node: self.node,
        }
    }
}

impl<const N: usize> core::fmt::Debug for OwnedRing<N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&self.ring(), f)
    }
}

impl<const N: usize> OwnedRing<N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// A fresh ring of `capacity` slots (a power of two), kind 0, node 0. The capacity is
    /// checked and the memory reserved before anything is built: a ring that cannot be
    /// allocated is [`Error::OutOfMemory`], not an abort.
    pub fn new(capacity: usize) -> Result<Self> {
        Self::with_lanes(capacity, 1)
    }

    /// `lanes` (at least 1) rings of `capacity` slots each; [`ring`](Self::ring) is lane 0.
    pub(crate) fn with_lanes(capacity: usize, lanes: usize) -> Result<Self> {
        check_capacity(capacity)?;
        let total = capacity.saturating_mul(lanes.max(1));
        let out_of_memory = || Error::OutOfMemory {
            capacity: total,
            bytes: total.saturating_mul(core::mem::size_of::<Slot<N>>()),
        };
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(total)
            .map_err(|_| out_of_memory())?;
        slots.extend((0..total).map(|_| Slot::new()));
        let mut heads = Vec::new();
        heads
            .try_reserve_exact(lanes.max(1))
            .map_err(|_| out_of_memory())?;
        heads.extend((0..lanes.max(1)).map(|_| {
            let head = Head::new();
            head.seed_start();
            head
        }));
        Ok(Self {
            memory: Arc::new(Memory {
                slots: slots.into_boxed_slice(),
                heads: heads.into_boxed_slice(),
                capacity,
            }),
            kind: 0,
            node: NodeId(0),
        })
    }

    /// This handle with the ring kind stamped into ids it publishes and required of read ones.
    #[must_use]
    pub fn with_kind(mut self, kind: u8) -> Self {
        self.kind = kind;
        self
    }

    /// This handle with the node stamped into ids it publishes.
    #[must_use]
    pub fn with_node(mut self, node: NodeId) -> Self {
        self.node = node;
        self
    }

    /// The core ring handle over this memory (this handle's kind and node).
    #[must_use]
    pub fn ring(&self) -> Ring<'_, N> {
        self.lane(0)
    }

    /// Lane `lane`'s ring (this handle's kind and node).
    ///
    /// # Panics
    ///
    /// If `lane` is not below the lanes this memory was made with.
    pub(crate) fn lane(&self, lane: usize) -> Ring<'_, N> {
        let capacity = self.memory.capacity;
        let slots = &self.memory.slots[lane * capacity..(lane + 1) * capacity];
        match Ring::new(slots, &self.memory.heads[lane]) {
            Ok(ring) => ring.with_kind(self.kind).with_node(self.node),
            Err(_) => unreachable!("capacity checked in OwnedRing::with_lanes"),
        }
    }

    /// Lanes (rings) in this memory: 1 for every ring a user makes.
    pub(crate) fn lanes(&self) -> usize {
        self.memory.heads.len()
    }

    /// [`Ring::publish`] (several writers may call it at once).
    pub fn publish(
        &self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> core::result::Result<NetId64, PublishError> {
        self.ring().publish(frame_kind, version, payload)
    }

    /// [`Ring::poll`].
    pub fn poll<F: FnMut(FrameRef<'_>)>(&self, cursor: &mut Cursor, visit: F) -> Poll {
        self.ring().poll(cursor, visit)
    }

    /// [`Ring::wait`]: blocks until a poll of `cursor` has something, or `timeout` passes.
    pub fn wait(&self, cursor: &Cursor, timeout: core::time::Duration) -> crate::Waited {
        self.ring().wait(cursor, timeout)
    }

    /// Takes the writer lease ([`Ring::exclusive_writer`]); the returned writer owns a handle
    /// on the ring, so it can move to another thread.
    pub fn exclusive_writer(&self) -> core::result::Result<OwnedWriter<N>, PublishError> {
        Ok(OwnedWriter {
            lease: self.ring().take_lease(0, HELD)?,
            ring: self.clone(),
        })
    }

    /// Slots in the ring.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.memory.capacity
    }
}

/// The exclusive writer of an [`OwnedRing`] ([`ExclusiveWriter`](crate::ExclusiveWriter)
/// semantics), owning its handle on the ring: `Send`, `'static`. Dropping it hands the ring
/// back to multi-writers.
///
/// # Examples
///
/// ```
/// use orbit_rs::{OwnedRing, PublishError};
///
/// let ring = OwnedRing::<32>::new(16)?;
/// let mut writer = ring.exclusive_writer()?;
/// // While it lives, nobody else publishes: not a second writer, not a multi-writer.
/// assert!(matches!(ring.exclusive_writer(), Err(PublishError::Leased)));
/// assert!(matches!(ring.publish(1, 0, b"x"), Err(PublishError::Leased)));
/// writer.publish(1, 0, b"mine")?;
/// drop(writer);
/// ring.publish(1, 1, b"anyone's again")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct OwnedWriter<const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    ring: OwnedRing<N>,
    lease: Lease,
}

impl<const N: usize> core::fmt::Debug for OwnedWriter<N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OwnedWriter")
            .field("ring", &self.ring)
            .field("lease", &self.lease)
            .finish()
    }
}

impl<const N: usize> OwnedWriter<N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// [`ExclusiveWriter::publish`](crate::ExclusiveWriter::publish).
    #[inline]
    pub fn publish(
        &mut self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> core::result::Result<NetId64, PublishError> {
        self.lease
            .publish(&self.ring.ring(), frame_kind, version, payload)
    }

    /// [`ExclusiveWriter::reset`](crate::ExclusiveWriter::reset).
    pub fn reset(&mut self) -> core::result::Result<(), PublishError> {
        self.lease.reset(&self.ring.ring())
    }

    /// This writer's lease token.
    #[must_use]
    pub fn token(&self) -> LeaseToken {
        self.lease.token()
    }

    /// The ring this writer publishes to.
    #[must_use]
    pub fn ring(&self) -> &OwnedRing<N> {
        &self.ring
    }
}

impl<const N: usize> Drop for OwnedWriter<N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn drop(&mut self) {
        self.lease.release(&self.ring.ring());
    }
}

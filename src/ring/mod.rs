//! The seqlock broadcast ring over caller-supplied slots.
//!
//! Files, one part of the protocol each:
//! * `mod.rs` — [`Ring`] (the handle), frames, and the protocol overview below;
//! * `head.rs` — [`Head`]: the head word, the lease token, the generation base;
//! * `slot.rs` — [`Slot`] layout and the `seq` encoding;
//! * `words.rs` — word-wise atomic copy of payload bytes in and out of a slot;
//! * `write.rs` — multi-writer publish: claim a counter, take the slot, commit;
//! * `read.rs` — inspect a slot, the poll walk, `read_head` / `read`;
//! * `lease.rs` — [`ExclusiveWriter`], lease identity, breaking a dead holder's lease, reset;
//! * `recover.rs` — returning a slot stuck mid-write by a dead multi-writer to service;
//! * `lost.rs` — loss markers: counters committed void, for frames lost upstream (a bridge);
//! * `wait.rs`, `signal.rs` — waiting for news: blocking (`std`), async (firmware);
//! * `cursor.rs` — [`Cursor`], [`Poll`], [`Loss`], [`Patience`];
//! * `error.rs` — [`SpecError`], [`PublishError`].
//!
//! # Protocol
//!
//! A ring is `capacity` (a power of two) slots plus a [`Head`]. Counter `c` lives in slot
//! `c % capacity`. A slot's `seq` word is `0` when never written, `2c + 1` while counter `c`
//! is being written and `2c + 2` once committed, so a reader always knows *which* counter a
//! slot holds.
//!
//! **Counters never repeat.** Internal counters only grow, across resets too: a reset starts a
//! new *generation* at the current head (its *base*) and touches no slot. Users see counters
//! relative to the base, so they restart at 0 after a reset, while a `seq` value names one
//! frame for the life of the ring — no ABA, ever, and a writer that claimed before a reset can
//! only ever commit a frame of the old generation.
//!
//! **Writer** (`write.rs`). Claim `c` with a CAS on the head word from `c` to `c + 1` that
//! refuses while the lease bit is set ([`PublishError::Leased`]). Take the slot exclusively with
//! a CAS from an *even* seq of an older counter (or `0`) to `2c + 1`; then a release fence,
//! relaxed stores of the header and payload words, and a release store of `2c + 2`. If the
//! seq is odd for an older counter, an older writer still holds the slot: this writer never
//! waits and never interleaves with it — it abandons its frame ([`PublishError::SlotBusy`]).
//! If the seq already belongs to a newer counter, the frame is abandoned as overwritten
//! ([`PublishError::Lapped`]).
//!
//! *Why several writers are safe.* A slot's seq only ever grows: the CAS moves it from a value
//! below `2c + 1` to `2c + 1`, the commit to `2c + 2`. Only the writer whose CAS succeeded
//! stores into the slot until it commits, because every other writer needs an even seq below
//! its own odd value, and the only even values that appear afterwards are this writer's commit
//! and later ones. So the words a reader sees between two equal loads of `2c + 2` were all
//! written by counter `c`'s writer.
//!
//! **Lease** (`lease.rs`). An [`ExclusiveWriter`] holds a token in the head's lease word and
//! the lease bit in the head word; it claims with plain stores and takes slots it committed
//! itself with a blind store. Its docs give the argument, and the rules for take, release,
//! break and reset.
//!
//! **Reader** (`read.rs`). Load seq (acquire). `2c + 2`: copy the header and payload words with
//! relaxed loads into the reader's own buffer, acquire fence, reload seq and accept only if
//! unchanged, then validate the copy (payload length ≤ `N`; the id is rebuilt from the ring
//! kind, the node in `meta` and the counter the seq names) — slot bytes are never trusted and
//! never borrowed. Before handing the frame out, the reader checks that the generation's base
//! is still the one its cursor is in, so one poll never mixes two generations.
//!
//! **Poll.** From the cursor on, inspecting at most `capacity + 1` slots and doing O(capacity)
//! work whatever the slots hold. A slot committed for exactly the cursor's counter is
//! delivered on that evidence alone, without loading the head. An even older lap means no
//! writer took the slot yet: the end of the stream, except that every
//! [`DEFAULT_HEAD_CHECK_POLLS`](Ring::DEFAULT_HEAD_CHECK_POLLS)-th such poll looks at the head.
//! Anything else — an odd seq of any counter, a later lap, a frame failing validation — makes
//! the walk load the head: at or past the head is the end of the stream; counters older than
//! `head - capacity` are [overwritten](Loss::overwritten); a slot in the window holding another
//! lap is overwritten, one that fails validation is [unavailable](Loss::unavailable); a pending
//! counter stops the walk without skipping it, unless later counters are committed and the
//! reader's [`Patience`] for *that* counter is spent (the **stuck-writer rule**): then it is
//! counted unavailable and the walk goes on. Every counter passed is delivered exactly once, in
//! counter order, or counted.
//!
//! **Stuck writers.** A writer that dies (or is preempted by an interrupt that publishes) after
//! taking its slot leaves the slot odd. Readers skip it by the rule above. Later writers that
//! land on that slot abandon their frames (readers count them): a writer never takes over an
//! odd slot, because the stuck writer might resume and store into a frame someone else
//! committed. Only whoever *knows* the writer is dead may return such a slot to service:
//! [`Ring::break_lease`] does so for a dead exclusive writer, [`Ring::recover_stalled`] for a
//! multi-writer that recorded its owner tag in the slot's `writer` word (the `std` layer asks
//! the kernel whether that tag's process is alive).
//!
//! **Counters** are `u64`. Seq values `2c + 2` fit for `c ≤ 2^63 - 2`; a larger claimed counter
//! (only reachable through a corrupt head) is refused with
//! [`PublishError::CounterExhausted`] and, when read, counted unavailable — no arithmetic
//! overflows for any value shared memory can hold.

mod cursor;
mod error;
mod head;
mod lease;
mod lost;
mod read;
mod recover;
#[cfg(feature = "critical-section")]
mod signal;
mod slot;
#[cfg(all(feature = "std", not(target_os = "none")))]
mod wait;
mod words;
mod write;

pub use cursor::{Cursor, Loss, Patience, Poll};
pub use error::{PublishError, SpecError};
#[cfg(feature = "std")]
pub(crate) use head::HELD;
pub use head::{Head, LeaseToken};
pub use lease::ExclusiveWriter;
#[cfg(feature = "std")]
pub(crate) use lease::Lease;
#[cfg(feature = "__test-hooks")]
#[doc(hidden)]
pub use read::slot_loads_for_test;
#[cfg(feature = "critical-section")]
#[cfg_attr(docsrs, doc(cfg(feature = "critical-section")))]
pub use signal::{RingSignal, SIGNAL_TASKS, SignalWait};
pub use slot::{PayloadSize, Slot, SupportedPayload};
#[cfg(all(feature = "std", not(target_os = "none")))]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use wait::Waited;

impl<const N: usize> Ring<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// The writer's side of waiting, after every commit, reset and recovered slot: wakes
    /// threads and processes blocked on the ring's words (`std`, hosted: `wait.rs`) and the
    /// tasks of the handle's [`RingSignal`] (feature `critical-section`: `signal.rs`).
    #[inline(always)]
    pub(crate) fn notify(&self) {
        self.notify_as(false);
    }

    /// [`notify`](Self::notify) by a writer that knows (`registered`) whether its process is
    /// registered for the waiters' barrier (see `park.rs`); false: look it up.
    #[inline(always)]
    pub(crate) fn notify_as(&self, registered: bool) {
        // The signal first: its own fence must order its load (the barrier of the threads'
        // protocol after it must not be what makes it correct).
        #[cfg(feature = "critical-section")]
        if let Some(signal) = self.signal {
            signal.wake();
        }
        #[cfg(all(feature = "std", not(target_os = "none")))]
        self.notify_waiters(registered);
        #[cfg(not(all(feature = "std", not(target_os = "none"))))]
        let _ = registered;
    }
}

use crate::id::{NetId64, NodeId};
use crate::sync::{Ordering, load_acquire};
use head::counter_of;

/// Largest slot count: counters inside one window must stay distinct modulo 2^40 (the id
/// counter), with room to spare.
pub const MAX_CAPACITY: usize = 1 << 31;

/// Checks a slot count before any memory is set aside for it: non-zero, a power of two, at
/// most [`MAX_CAPACITY`]. [`Ring::new`] applies the same check.
pub const fn check_capacity(capacity: usize) -> Result<(), SpecError> {
    if capacity == 0 {
        Err(SpecError::ZeroCapacity)
    } else if !capacity.is_power_of_two() {
        Err(SpecError::NotPowerOfTwo { capacity })
    } else if capacity > MAX_CAPACITY {
        Err(SpecError::TooLarge {
            capacity,
            max: MAX_CAPACITY,
        })
    } else {
        Ok(())
    }
}

/// A frame as delivered to a poll visitor; `payload` borrows the reader's private copy, never
/// slot memory.
///
/// # Examples
///
/// ```
/// use orbit_rs::{Cursor, Head, NodeId, Ring, Slot};
///
/// let slots = [Slot::<32>::EMPTY; 8];
/// let head = Head::new();
/// let ring = Ring::new(&slots, &head)?.with_kind(5).with_node(NodeId(2));
/// ring.publish(1, 1_700_000_000, b"door open")?;
///
/// ring.poll(&mut Cursor::from_start(), |frame| {
///     assert_eq!((frame.id.kind(), frame.id.node(), frame.counter), (5, NodeId(2), 0));
///     assert_eq!((frame.kind, frame.version), (1, 1_700_000_000));
///     assert_eq!(frame.payload, b"door open");
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameRef<'a> {
    /// The frame's id (ring kind, publishing node, low 40 bits of the counter).
    pub id: NetId64,
    /// The frame's counter in its generation.
    pub counter: u64,
    /// The frame kind byte given to [`Ring::publish`].
    pub kind: u8,
    /// The version / timestamp word given to [`Ring::publish`].
    pub version: u64,
    /// The payload bytes.
    pub payload: &'a [u8],
}

/// An owned copy of a frame, as returned by [`Ring::read_head`] and [`Ring::read`].
///
/// # Examples
///
/// ```
/// use orbit_rs::{Cursor, Frame, Head, Ring, Slot};
///
/// let slots = [Slot::<16>::EMPTY; 8];
/// let head = Head::new();
/// let ring = Ring::new(&slots, &head)?;
/// let id = ring.publish(0, 0, b"first")?;
/// ring.publish(0, 0, b"latest")?;
///
/// let latest: Frame<16> = ring.read_head().expect("a frame was committed");
/// assert_eq!((latest.counter, latest.payload.as_slice()), (1, b"latest".as_slice()));
/// assert_eq!(ring.read(id).expect("still in the ring").as_ref().payload, b"first");
///
/// // Copy frames out without allocating:
/// let mut frames = [Frame::<16>::empty(), Frame::empty(), Frame::empty()];
/// let (filled, _poll) = ring.poll_into(&mut Cursor::from_start(), &mut frames);
/// assert_eq!((filled, frames[1].counter), (2, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frame<const N: usize> {
    /// The frame's id.
    pub id: NetId64,
    /// The frame's counter in its generation.
    pub counter: u64,
    /// The frame kind byte.
    pub kind: u8,
    /// The version / timestamp word.
    pub version: u64,
    /// The payload bytes.
    pub payload: heapless::Vec<u8, N>,
}

impl<const N: usize> Frame<N> {
    /// An empty frame, to fill buffers for [`Ring::poll_into`].
    #[must_use]
    pub const fn empty() -> Self {
        Self {
            id: NetId64::from_raw(0),
            counter: 0,
            kind: 0,
            version: 0,
            payload: heapless::Vec::new(),
        }
    }

    /// Copies a borrowed frame; `None` if its payload exceeds `N` bytes.
    #[must_use]
    pub fn from_ref(frame: &FrameRef<'_>) -> Option<Self> {
        Some(Self {
            id: frame.id,
            counter: frame.counter,
            kind: frame.kind,
            version: frame.version,
            payload: heapless::Vec::from_slice(frame.payload).ok()?,
        })
    }

    /// A borrowed view of this frame.
    #[must_use]
    pub fn as_ref(&self) -> FrameRef<'_> {
        FrameRef {
            id: self.id,
            counter: self.counter,
            kind: self.kind,
            version: self.version,
            payload: &self.payload,
        }
    }
}

/// A seqlock broadcast ring over caller-supplied slots; see the [module docs](self).
///
/// `Ring` is a cheap handle (`Copy`): share it, or build one per thread or process over the same
/// memory. The handle's [`kind`](Ring::with_kind) and [`node`](Ring::with_node) are stamped into
/// the ids of frames it publishes; its kind is checked on every frame it reads.
///
/// # Examples
///
/// Two writer threads, one handle each, over one `static` ring:
///
/// ```
/// use orbit_rs::{Cursor, Head, NodeId, Ring, Slot};
///
/// static SLOTS: [Slot<32>; 16] = [Slot::EMPTY; 16];
/// static HEAD: Head = Head::new();
/// let ring = Ring::new(&SLOTS, &HEAD)?.with_kind(3);
///
/// std::thread::scope(|s| {
///     for node in [1, 2] {
///         let writer = ring.with_node(NodeId(node));
///         s.spawn(move || writer.publish(0, 0, b"hello").unwrap());
///     }
/// });
///
/// let mut nodes = Vec::new();
/// let poll = ring.poll(&mut Cursor::from_start(), |frame| nodes.push(frame.id.node().get()));
/// nodes.sort();
/// assert_eq!((nodes, poll.loss.total()), (vec![1, 2], 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ring<'a, const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    slots: &'a [Slot<N>],
    head: &'a Head,
    mask: u64,
    kind: u8,
    node: NodeId,
    owner: u32,
    stall_polls: u32,
    head_check_polls: u32,
    /// Tasks this handle's writes wake (see [`with_signal`](Ring::with_signal)).
    #[cfg(feature = "critical-section")]
    signal: Option<&'a RingSignal>,
}

impl<const N: usize> Clone for Ring<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn clone(&self) -> Self {
        *self
    }
}

impl<const N: usize> Copy for Ring<'_, N> where PayloadSize<N>: SupportedPayload {}

impl<const N: usize> core::fmt::Debug for Ring<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.slots.len())
            .field("payload", &N)
            .field("kind", &self.kind)
            .field("node", &self.node)
            .field("owner", &self.owner)
            .field("head", self.head)
            .finish()
    }
}

impl<'a, const N: usize> Ring<'a, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Largest slot count; see [`MAX_CAPACITY`].
    pub const MAX_CAPACITY: usize = MAX_CAPACITY;

    /// Polls a stuck counter may stall before [`Patience::Polls`] gives up on it.
    pub const DEFAULT_STALL_POLLS: u32 = 64;

    /// A reader whose next counter's slot holds an even older lap (no writer has taken it for
    /// this counter yet) ends the poll there without loading the head — so a reader that keeps
    /// up does not pull the head's cache line away from the writer on every poll — except on
    /// every this-many-th such poll in a row, when it loads the head to find counters claimed
    /// by writers that stopped before taking their slots. A slot that is odd (any writer at
    /// work on it, or one that died there), or a reader already waiting on a stuck counter,
    /// makes the poll load the head at once.
    ///
    /// 1024 keeps a spinning reader's head loads rare enough not to show in its latency. A
    /// reader that polls rarely and must notice such stopped writers sooner sets a smaller
    /// period with [`Ring::with_head_check_polls`].
    pub const DEFAULT_HEAD_CHECK_POLLS: u32 = 1024;

    /// A ring over `slots` (power-of-two length) and `head`, with kind 0 and node 0.
    pub fn new(slots: &'a [Slot<N>], head: &'a Head) -> Result<Self, SpecError> {
        let capacity = slots.len();
        check_capacity(capacity)?;
        Ok(Self {
            slots,
            head,
            mask: capacity as u64 - 1,
            kind: 0,
            node: NodeId(0),
            owner: 0,
            stall_polls: Self::DEFAULT_STALL_POLLS,
            head_check_polls: Self::DEFAULT_HEAD_CHECK_POLLS,
            #[cfg(feature = "critical-section")]
            signal: None,
        })
    }

    /// This handle, whose writes (publish, exclusive writer, reset, recovery) wake the tasks
    /// awaiting `signal` ([`RingSignal::wait`]). Give it to every writer of the ring: an
    /// interrupt handler's handle as much as a task's.
    #[cfg(feature = "critical-section")]
    #[cfg_attr(docsrs, doc(cfg(feature = "critical-section")))]
    #[must_use]
    pub const fn with_signal(mut self, signal: &'a RingSignal) -> Self {
        self.signal = Some(signal);
        self
    }

    /// Sets the ring kind stamped into published ids and required of read ones.
    #[must_use]
    pub const fn with_kind(mut self, kind: u8) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the node stamped into ids this handle publishes.
    #[must_use]
    pub const fn with_node(mut self, node: NodeId) -> Self {
        self.node = node;
        self
    }

    /// Sets the owner tag this handle's writes are recorded under: in the lease token of an
    /// [`exclusive_writer`](Ring::exclusive_writer) or [`reset`](Ring::reset), and in the
    /// `writer` word of every slot it publishes into, so that a reader finding the slot stuck
    /// mid-write can ask whether this writer is still alive
    /// ([`recover_stalled`](Ring::recover_stalled)). `0` (the default) records nothing: such a
    /// writer's stuck slots are never recovered.
    ///
    /// The `std` layer sets each fleet member's tag, which the kernel ties to its process.
    #[must_use]
    pub const fn with_owner(mut self, owner: u32) -> Self {
        self.owner = owner;
        self
    }

    /// Sets how many consecutive polls may stall on a stuck counter under
    /// [`Patience::Polls`] before it is counted unavailable (0: at once).
    #[must_use]
    pub const fn with_stall_polls(mut self, polls: u32) -> Self {
        self.stall_polls = polls;
        self
    }

    /// Sets how often a caught-up reader looks at the head: see
    /// [`DEFAULT_HEAD_CHECK_POLLS`](Ring::DEFAULT_HEAD_CHECK_POLLS) (0 or 1: on every poll).
    #[must_use]
    pub const fn with_head_check_polls(mut self, polls: u32) -> Self {
        self.head_check_polls = polls;
        self
    }

    /// Test hook (feature `__test-hooks`): this handle's head-check period.
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    #[must_use]
    pub const fn head_check_polls(&self) -> u32 {
        self.head_check_polls
    }

    /// Number of slots.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The ring kind.
    #[must_use]
    pub const fn kind(&self) -> u8 {
        self.kind
    }

    /// The node this handle publishes as.
    #[must_use]
    pub const fn node(&self) -> NodeId {
        self.node
    }

    /// The owner tag this handle writes under (see [`with_owner`](Ring::with_owner)).
    #[must_use]
    pub const fn owner(&self) -> u32 {
        self.owner
    }

    /// The next counter to be claimed, relative to the current generation (frames claimed
    /// since the last reset).
    #[must_use]
    pub fn head(&self) -> u64 {
        let base = load_acquire(&self.head.base);
        self.head_counter().saturating_sub(base)
    }

    /// Resets so far (the generation number).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.head.generation()
    }

    /// A cursor that sees only frames claimed after this call.
    #[must_use]
    pub fn cursor_at_head(&self) -> Cursor {
        let (key, base, head) = self.generation_start();
        Cursor::joined(key, base, head - base)
    }

    /// The internal counter the head word holds (no lease bit).
    #[inline]
    fn head_counter(&self) -> u64 {
        counter_of(self.head.word.load(Ordering::Relaxed))
    }

    /// The current generation's base word (its identity), its effective base (clamped to the
    /// head: a hostile base past the head must not put cursors past it) and the head.
    fn generation_start(&self) -> (u64, u64, u64) {
        // SYNC: Acquire pairs with the Release base store of a reset: the head loaded after it
        // is the new generation's or later.
        let key = load_acquire(&self.head.base);
        let head = self.head_counter();
        (key, key.min(head), head)
    }

    #[inline]
    fn slot(&self, counter: u64) -> &Slot<N> {
        // The mask keeps the index below capacity, which fits in usize.
        &self.slots[(counter & self.mask) as usize]
    }
}

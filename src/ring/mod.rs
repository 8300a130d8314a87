//! The seqlock broadcast ring over caller-supplied slots.
//!
//! Files:
//! * `mod.rs` — [`Ring`], [`Head`], frames, and the protocol (below);
//! * `slot.rs` — [`Slot`] layout and the `seq` encoding;
//! * `words.rs` — word-wise atomic copy of payload bytes in and out of a slot;
//! * `cursor.rs` — [`Cursor`], [`Poll`], [`Loss`], [`Patience`];
//! * `writer.rs` — [`ExclusiveWriter`], the single-writer path under a lease;
//! * `error.rs` — [`SpecError`], [`PublishError`].
//!
//! # Protocol
//!
//! A ring is `capacity` (a power of two) slots plus a [`Head`]: the head word (the next counter
//! to claim; bit 63 is the [writer lease](ExclusiveWriter)) and a reset generation, on separate
//! cache lines. Counter `c` lives in slot `c % capacity`. A slot's `seq` word is `0` when
//! never written, `2c + 1` while counter `c` is being written and `2c + 2` once committed, so a
//! reader always knows *which* counter a slot holds.
//!
//! **Writer.** Claim `c` with one RMW on the head word: a CAS from `c` to `c + 1` that refuses
//! while the lease bit is set ([`PublishError::Leased`]). Take the slot exclusively with a CAS
//! from an *even* seq of an older counter (or `0`) to `2c + 1`; then a release fence, relaxed
//! stores of the header words and payload words, and a release store of `2c + 2`. If the seq is odd for an
//! older counter, an older writer still holds the slot: this writer never waits and never
//! interleaves with it — it abandons its frame ([`PublishError::SlotBusy`]). If the seq already
//! belongs to a newer counter, a writer one lap ahead took the slot: the frame is abandoned as
//! overwritten ([`PublishError::Lapped`]). With one writer the CAS always succeeds at once, so
//! publishing is wait-free. An [`ExclusiveWriter`] claims and takes slots with plain stores
//! instead; its docs show why that stays safe next to multi-writers that claimed before it.
//!
//! *Why several writers are safe.* A slot's seq only ever grows: the CAS moves it from a value
//! below `2c + 1` to `2c + 1`, the commit to `2c + 2`. Only the writer whose CAS succeeded
//! stores into the slot until it commits, because every other writer needs an even seq below
//! its own odd value, and the only even values that appear afterwards are this writer's commit
//! and later ones. So the words a reader sees between two equal loads of `2c + 2` were all
//! written by counter `c`'s writer (no ABA: the seq never returns to an old value except by
//! [`Ring::reset`]).
//!
//! **Reader.** Load seq (acquire). `2c + 2`: copy the header and payload words with relaxed
//! loads into the reader's own buffer, acquire fence, reload seq and accept only if unchanged,
//! then validate the copy (payload length ≤ `N`; the id is rebuilt from the ring kind, the
//! node in `meta` and the counter the seq names) — slot bytes are never trusted and never
//! borrowed. A seq below `2c + 1`..`2c + 1` is *pending*; above `2c + 2` is *gone* (overwritten
//! by a later lap).
//!
//! **Poll.** From the cursor on, inspecting at most `capacity + 1` slots. A slot committed for
//! exactly the cursor's counter is delivered on that evidence alone, without loading the head,
//! so a reader that keeps up touches only the slots it reads (and the generation line, which
//! only a reset writes) and never pulls the head's line away from the writers. Any other slot
//! makes the walk load the head: at or past the head is the end of the stream; counters older
//! than `head - capacity` are [overwritten](Loss::overwritten); a slot in the window holding
//! another lap is overwritten, one that fails validation is [unavailable](Loss::unavailable);
//! a pending counter stops the walk without skipping it, unless later counters are committed
//! and the reader's [`Patience`] is spent (the **stuck-writer rule**), in which case it is
//! counted unavailable and the walk goes on. Every counter passed is delivered exactly once, in
//! counter order, or counted. A cursor that saw another generation restarts at 0
//! ([`Poll::rewound`]); one past the head waits for it.
//!
//! **Stuck writers.** A writer that dies (or is preempted by an interrupt that publishes) after
//! its CAS leaves the slot odd. Readers skip it by the rule above. Later writers that land on
//! that slot abandon their frames (readers count them) until [`Ring::reset`]: a writer never
//! takes over an odd slot, because the stuck writer might resume and store into a frame
//! someone else committed — a torn frame that readers would accept.
//!
//! **Counters** are `u64`. Seq values `2c + 2` fit for `c ≤ 2^63 - 2`; a larger claimed counter
//! (only reachable through a corrupt head) is refused with
//! [`PublishError::CounterExhausted`] and, when read, counted unavailable — no arithmetic
//! overflows for any head value.

mod cursor;
mod error;
mod slot;
mod words;
mod writer;

pub use cursor::{Cursor, Loss, Patience, Poll};
pub use error::{PublishError, SpecError};

pub use slot::{PayloadSize, Slot, SupportedPayload};
pub use writer::ExclusiveWriter;
#[cfg(feature = "std")]
pub(crate) use writer::Lease;

use crate::id::{NetId64, NodeId};
use crate::sync::{AtomicU64, Ordering, fence};
use slot::{pack_meta, seq, unpack_meta};

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

/// The ring's shared control words: the head word (next counter to claim, plus the writer-lease
/// flag in bit 63) and the reset generation, each on its own cache line.
///
/// Writers move the head on every publish; readers load it only when a slot does not hold the
/// frame they want, while they check the generation on every poll. Keeping the two apart lets
/// caught-up readers spin without pulling the writers' line away from them.
///
/// Like [`Slot`], it may live in a `static`, on the heap or inside a shared mapping.
#[repr(C, align(64))]
pub struct Head {
    pub(crate) counter: AtomicU64,
    /// Who holds the writer lease, as recorded by the holder (0: unknown). Written once per
    /// lease, never on the publish path.
    pub(crate) lease_owner: AtomicU64,
    _counter_line: [AtomicU64; 6],
    pub(crate) generation: AtomicU64,
    _generation_line: [AtomicU64; 7],
}

/// Bit 63 of the head word: an [`ExclusiveWriter`] holds the ring. Counters never reach it
/// (the largest representable counter is `2^63 - 2`).
pub(crate) const LEASED: u64 = 1 << 63;

/// The counter part of a head word.
pub(crate) const fn counter_of(word: u64) -> u64 {
    word & !LEASED
}

impl Head {
    /// A fresh head: counter 0, generation 0, no writer lease.
    #[cfg(not(loom))]
    #[must_use]
    pub const fn new() -> Self {
        Self {
            counter: AtomicU64::new(0),
            lease_owner: AtomicU64::new(0),
            _counter_line: [const { AtomicU64::new(0) }; 6],
            generation: AtomicU64::new(0),
            _generation_line: [const { AtomicU64::new(0) }; 7],
        }
    }

    /// A fresh head: counter 0, generation 0, no writer lease.
    #[cfg(loom)]
    #[must_use]
    pub fn new() -> Self {
        Self {
            counter: AtomicU64::new(0),
            lease_owner: AtomicU64::new(0),
            _counter_line: core::array::from_fn(|_| AtomicU64::new(0)),
            generation: AtomicU64::new(0),
            _generation_line: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// A head whose next counter is `counter` (tests of huge counters, restored state). Bit 63
    /// is the lease flag: `counter` is taken modulo 2^63, with no lease.
    #[must_use]
    pub fn starting_at(counter: u64) -> Self {
        let head = Self::new();
        head.counter.store(counter_of(counter), Ordering::Relaxed);
        head
    }
}

impl Default for Head {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Head {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let word = self.counter.load(Ordering::Relaxed);
        f.debug_struct("Head")
            .field("counter", &counter_of(word))
            .field("leased", &(word & LEASED != 0))
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish()
    }
}

/// A frame as delivered to a poll visitor; `payload` borrows the reader's private copy, never
/// slot memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameRef<'a> {
    /// The frame's id (ring kind, publishing node, low 40 bits of the counter).
    pub id: NetId64,
    /// The full ring counter.
    pub counter: u64,
    /// The frame kind byte given to [`Ring::publish`].
    pub kind: u8,
    /// The version / timestamp word given to [`Ring::publish`].
    pub version: u64,
    /// The payload bytes.
    pub payload: &'a [u8],
}

/// An owned copy of a frame, as returned by [`Ring::read_head`] and [`Ring::read`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frame<const N: usize> {
    /// The frame's id.
    pub id: NetId64,
    /// The full ring counter.
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

/// Header words of a validated frame copy; the payload stays in the reader's buffer.
#[derive(Clone, Copy)]
struct Header {
    id: NetId64,
    kind: u8,
    version: u64,
    len: usize,
}

/// What a reader found in a counter's slot.
enum Inspect {
    /// A committed, validated frame for the counter.
    Frame(Header),
    /// The counter's writer has not committed: `taken` if the slot shows it being written
    /// (the odd seq of exactly this counter), else no writer has taken the slot for it yet.
    Pending { taken: bool },
    /// A later lap holds (or took, during the copy) the slot.
    Gone,
    /// Committed for this counter but failing validation, or an unrepresentable counter.
    Invalid,
}

/// A seqlock broadcast ring over caller-supplied slots; see the [module docs](self).
///
/// `Ring` is a cheap handle (`Copy`): share it, or build one per thread or process over the same
/// memory. The handle's [`kind`](Ring::with_kind) and [`node`](Ring::with_node) are stamped into
/// the ids of frames it publishes; its kind is checked on every frame it reads.
pub struct Ring<'a, const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    slots: &'a [Slot<N>],
    head: &'a Head,
    mask: u64,
    kind: u8,
    node: NodeId,
    stall_polls: u32,
    head_check_polls: u32,
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

    /// A reader whose next counter's slot no writer has taken yet ends the poll there without
    /// loading the head — so a reader that keeps up does not pull the head's cache line away
    /// from the writer on every poll — except on every this-many-th such poll in a row, when it
    /// loads the head to find counters claimed by writers that stopped before taking their
    /// slots (the stuck-writer rule needs the head). A slot being written for the counter
    /// (a writer at work, or one that died mid-write), or a reader already waiting on a stuck
    /// counter, makes the poll load the head at once.
    ///
    /// 1024 keeps a spinning reader's head loads rare enough not to show in its latency (one
    /// frame every 2 µs, in process: p50 equal to a bare seqlock's; at 64 it was ≈ 100 ns
    /// more). A reader that polls rarely and must notice such stopped writers sooner sets a
    /// smaller period with [`Ring::with_head_check_polls`].
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
            stall_polls: Self::DEFAULT_STALL_POLLS,
            head_check_polls: Self::DEFAULT_HEAD_CHECK_POLLS,
        })
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

    /// The head-check period of this handle's polls (see
    /// [`with_head_check_polls`](Ring::with_head_check_polls)).
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

    /// The next counter to be claimed (frames claimed so far, in this generation).
    #[must_use]
    pub fn head(&self) -> u64 {
        counter_of(self.head.counter.load(Ordering::Relaxed))
    }

    /// The reset generation.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.head.generation.load(Ordering::Relaxed)
    }

    /// A cursor that sees only frames claimed after this call.
    #[must_use]
    pub fn cursor_at_head(&self) -> Cursor {
        // SYNC: Acquire pairs with the Release bump in reset(), so the head read below is from
        // the generation recorded (or a later one, which the next poll detects).
        let generation = self.head.generation.load(Ordering::Acquire);
        Cursor::from_counter(self.head()).in_generation(generation)
    }

    #[inline]
    fn slot(&self, counter: u64) -> &Slot<N> {
        // The mask keeps the index below capacity, which fits in usize.
        &self.slots[(counter & self.mask) as usize]
    }

    /// Publishes one frame and returns its id.
    ///
    /// Claims the next counter and writes its slot under the seq protocol. Wait-free with one
    /// writer; with several, a writer never waits for another (see [`PublishError`]).
    pub fn publish(
        &self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64, PublishError> {
        let (counter, slot) = self.claim(payload)?;
        let id = self.write(slot, counter, frame_kind, version, payload, usize::MAX);
        // Cannot fail: claim() checked the counter.
        let committed = seq::committed(counter).unwrap_or(u64::MAX);
        // SYNC: Release pairs with the Acquire seq load in inspect(): a reader that sees the
        // even seq sees every word stored above.
        slot.seq.store(committed, Ordering::Release);
        Ok(id)
    }

    /// Claims a counter and takes its slot exclusively (seq odd). On success the caller owns
    /// the slot until it stores the committed seq.
    fn claim(&self, payload: &[u8]) -> Result<(u64, &Slot<N>), PublishError> {
        self.check_len(payload)?;
        // One RMW on the head claims the counter: a CAS, because it must also refuse while an
        // [`ExclusiveWriter`] holds the lease (that writer moves the head with plain stores).
        // Relaxed: the claim needs only the uniqueness of the RMW; slot contents are ordered by
        // the slot's own seq, never by the head.
        let mut word = self.head.counter.load(Ordering::Relaxed);
        let counter = loop {
            if word & LEASED != 0 {
                return Err(PublishError::Leased);
            }
            let Some(_) = seq::writing(word) else {
                return Err(PublishError::CounterExhausted { counter: word });
            };
            match self.head.counter.compare_exchange_weak(
                word,
                word + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break word,
                Err(now) => word = now,
            }
        };
        let slot = self.slot(counter);
        self.take(slot, counter, None)?;
        Ok((counter, slot))
    }

    #[inline]
    fn check_len(&self, payload: &[u8]) -> Result<(), PublishError> {
        if payload.len() > N {
            return Err(PublishError::PayloadTooLarge {
                len: payload.len(),
                max: N,
            });
        }
        Ok(())
    }

    /// Takes `slot` for the claimed `counter`: moves its seq from an even value of an older lap
    /// to `2 * counter + 1`. A CAS, unless the caller holds the writer lease taken at counter `L`
    /// (`lease = Some(L)`) and the seq is already at least `2L`: a value no other writer can
    /// still move (see [`ExclusiveWriter`]), so a plain store takes the slot.
    #[inline]
    fn take(&self, slot: &Slot<N>, counter: u64, lease: Option<u64>) -> Result<(), PublishError> {
        let Some(writing) = seq::writing(counter) else {
            return Err(PublishError::CounterExhausted { counter });
        };
        // A lease counter is below 2^63, so 2L fits.
        let plain_above = lease.map(|first| first.saturating_mul(2));
        // SYNC: Acquire pairs with the Release commit of the slot's previous writer, so our
        // stores below come after its stores in every word's modification order (the CAS below
        // repeats it for the values it reads).
        let mut current = slot.seq.load(Ordering::Acquire);
        loop {
            if current >= writing {
                return Err(PublishError::Lapped { counter });
            }
            if seq::is_writing(current) {
                return Err(PublishError::SlotBusy {
                    counter,
                    holder: current / 2,
                });
            }
            if plain_above.is_some_and(|above| current >= above) {
                slot.seq.store(writing, Ordering::Relaxed);
                break;
            }
            match slot
                .seq
                .compare_exchange(current, writing, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        // SYNC: pairs with the Acquire fence in copy(): a reader whose copy saw any store
        // below will see the odd seq (or later) when it reloads seq, and reject the copy.
        fence(Ordering::Release);
        Ok(())
    }

    /// Stores the frame's words into a slot this writer owns; at most `max_words` payload words
    /// (the test hook stops part-way).
    #[inline]
    fn write(
        &self,
        slot: &Slot<N>,
        counter: u64,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
        max_words: usize,
    ) -> NetId64 {
        let id = NetId64::new(self.kind, self.node, counter);
        slot.meta.store(
            pack_meta(frame_kind, self.node.get(), payload.len()),
            Ordering::Relaxed,
        );
        slot.version.store(version, Ordering::Relaxed);
        let bytes = &payload[..payload.len().min(max_words.saturating_mul(8))];
        words::store(slot.words(), bytes);
        id
    }

    /// Test hook: claims a counter and writes `words` payload words of its frame, then returns
    /// *without committing*, as a writer that crashed or was preempted mid-write would. The
    /// slot stays odd until [`Ring::reset`].
    #[doc(hidden)]
    pub fn stall_mid_write_for_test(
        &self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
        words: usize,
    ) -> Result<u64, PublishError> {
        let (counter, slot) = self.claim(payload)?;
        self.write(slot, counter, frame_kind, version, payload, words);
        Ok(counter)
    }

    /// Reads counter `counter`'s slot into `buf`, accepting only that counter's frame.
    fn inspect(
        &self,
        counter: u64,
        buf: &mut <PayloadSize<N> as SupportedPayload>::Buf,
    ) -> Inspect {
        let Some(want) = seq::committed(counter) else {
            return Inspect::Invalid;
        };
        let slot = self.slot(counter);
        // SYNC: Acquire pairs with the Release store of the even seq in publish().
        let before = slot.seq.load(Ordering::Acquire);
        if before != want {
            return if before < want {
                Inspect::Pending {
                    taken: before == want - 1,
                }
            } else {
                Inspect::Gone
            };
        }
        self.copy(slot, before, counter, buf)
    }

    /// Reads whatever committed frame the slot of `counter` holds (any lap the head has
    /// reached, including one a writer committed after the caller loaded the head); returns the
    /// frame's own counter with the header.
    fn inspect_latest(
        &self,
        counter: u64,
        buf: &mut <PayloadSize<N> as SupportedPayload>::Buf,
    ) -> Option<(u64, Header)> {
        let slot = self.slot(counter);
        // SYNC: Acquire pairs with the Release store of the even seq in publish().
        let before = slot.seq.load(Ordering::Acquire);
        if before == 0 || seq::is_writing(before) {
            return None;
        }
        let held = before / 2 - 1;
        // A later lap is genuine only if the head has reached it: its writer claimed it (head
        // RMW) before committing, and our acquire load of the seq makes that claim visible to
        // the head load below. Anything else is a corrupt or hostile slot.
        if held & self.mask != counter & self.mask || (held > counter && held >= self.head()) {
            return None;
        }
        match self.copy(slot, before, held, buf) {
            Inspect::Frame(header) => Some((held, header)),
            Inspect::Pending { .. } | Inspect::Gone | Inspect::Invalid => None,
        }
    }

    /// Copies a slot whose seq was `before` (committed for `counter`) into `buf`, rechecks the
    /// seq and validates the copy.
    fn copy(
        &self,
        slot: &Slot<N>,
        before: u64,
        counter: u64,
        buf: &mut <PayloadSize<N> as SupportedPayload>::Buf,
    ) -> Inspect {
        let (kind, node, len) = unpack_meta(slot.meta.load(Ordering::Relaxed));
        let version = slot.version.load(Ordering::Relaxed);
        let clamped = usize::try_from(len).unwrap_or(usize::MAX).min(N);
        let used = words::words_for(clamped);
        words::load(slot.words(), buf.as_mut(), used);
        // SYNC: pairs with the Release fence in claim(): if a load above saw a later writer's
        // store, the reload below sees that writer's odd seq (or later).
        fence(Ordering::Acquire);
        let after = slot.seq.load(Ordering::Relaxed);
        if after != before {
            return Inspect::Gone;
        }
        if len > N as u64 {
            return Inspect::Invalid;
        }
        Inspect::Frame(Header {
            id: NetId64::new(self.kind, NodeId(node), counter),
            kind,
            version,
            len: clamped,
        })
    }

    /// True if some counter in `(counter, head)` (at most one window) is committed.
    fn committed_after(&self, counter: u64, head: u64) -> bool {
        let end = head.min(counter.saturating_add(self.capacity() as u64));
        let mut later = counter.saturating_add(1);
        while later < end {
            let seq = self.slot(later).seq.load(Ordering::Relaxed);
            if seq::committed(later) == Some(seq) {
                return true;
            }
            later += 1;
        }
        false
    }

    /// Delivers every frame after `cursor` to `visit`, in counter order, and advances the
    /// cursor past everything it accounted for. Uses [`Patience::Polls`].
    pub fn poll<F: FnMut(FrameRef<'_>)>(&self, cursor: &mut Cursor, visit: F) -> Poll {
        self.poll_with(cursor, Patience::Polls, visit)
    }

    /// [`poll`](Ring::poll) with an explicit stuck-writer [`Patience`].
    pub fn poll_with<F: FnMut(FrameRef<'_>)>(
        &self,
        cursor: &mut Cursor,
        patience: Patience,
        visit: F,
    ) -> Poll {
        self.walk(cursor, patience, u64::MAX, visit)
    }

    /// Copies frames after `cursor` into `out` (no allocation) and returns how many were
    /// filled. Stops when `out` is full — the cursor then rests on the first frame that did not
    /// fit, so nothing is skipped; poll again for the rest.
    pub fn poll_into(&self, cursor: &mut Cursor, out: &mut [Frame<N>]) -> (usize, Poll) {
        let mut filled = 0;
        let limit = out.len() as u64;
        let poll = self.walk(cursor, Patience::Polls, limit, |frame| {
            if let Some(slot) = out.get_mut(filled) {
                slot.id = frame.id;
                slot.counter = frame.counter;
                slot.kind = frame.kind;
                slot.version = frame.version;
                slot.payload.clear();
                // Cannot fail: a delivered payload is at most N bytes.
                let _ = slot.payload.extend_from_slice(frame.payload);
                filled += 1;
            }
        });
        (filled, poll)
    }

    /// The poll walk: delivers at most `limit` frames, inspecting at most `capacity + 1` slots
    /// (a reader found a lap behind inspects its slot, jumps, then walks one window).
    ///
    /// A slot committed for exactly the cursor's counter is delivered on that evidence alone;
    /// the head is loaded only when a slot holds anything else, to tell the end of the stream
    /// from a lap (loss) or a stuck writer. A caught-up reader therefore touches only the slot
    /// it waits for, and the generation line, which only [`Ring::reset`] writes.
    fn walk<F: FnMut(FrameRef<'_>)>(
        &self,
        cursor: &mut Cursor,
        patience: Patience,
        limit: u64,
        mut visit: F,
    ) -> Poll {
        let mut poll = Poll::default();
        // SYNC: Acquire pairs with the Release bump in reset(): seeing the new generation means
        // seeing the zeroed head and slots.
        let generation = self.head.generation.load(Ordering::Acquire);
        if cursor.generation != Cursor::ANY_GENERATION && cursor.generation != generation {
            poll.rewound = true;
            cursor.next = 0;
            cursor.stalls = 0;
            cursor.idle = 0;
        }
        cursor.generation = generation;

        let mut next = cursor.next;
        let mut stalls = cursor.stalls;
        let mut idle = cursor.idle;
        // Set once this poll has looked at the head: from then on the head decides.
        let mut looked = false;
        let mut buf = <PayloadSize<N> as SupportedPayload>::ZERO_BUF;
        for _ in 0..=self.capacity() {
            let found = self.inspect(next, &mut buf);
            if let Inspect::Frame(header) = found {
                if poll.delivered >= limit {
                    break;
                }
                visit(FrameRef {
                    id: header.id,
                    counter: next,
                    kind: header.kind,
                    version: header.version,
                    payload: words::bytes(buf.as_ref(), header.len),
                });
                poll.delivered += 1;
                next += 1;
                continue;
            }
            if let Inspect::Pending { taken: false } = found {
                let stalled_here = next == cursor.next && stalls > 0;
                if !stalled_here && !looked && idle.saturating_add(1) < self.head_check_polls {
                    // No writer has taken this slot for the counter: the end of the stream as
                    // far as the slots tell, without touching the head.
                    idle += 1;
                    break;
                }
            }
            idle = 0;
            looked = true;
            let head = self.head();
            if next >= head {
                break; // The end of the stream.
            }
            let oldest = head.saturating_sub(self.capacity() as u64);
            if next < oldest {
                poll.loss.overwritten += oldest - next;
                next = oldest;
                continue;
            }
            match found {
                Inspect::Frame(_) | Inspect::Gone => poll.loss.overwritten += 1,
                Inspect::Invalid => poll.loss.unavailable += 1,
                Inspect::Pending { .. } => {
                    if !self.committed_after(next, head) {
                        break; // A writer is still at work here.
                    }
                    let prior = if next == cursor.next { stalls } else { 0 };
                    let give_up = match patience {
                        Patience::Polls => prior >= self.stall_polls,
                        Patience::Wait => false,
                        Patience::GiveUp => true,
                    };
                    if !give_up {
                        poll.stalled_at = Some(next);
                        stalls = prior.saturating_add(1);
                        break;
                    }
                    poll.loss.unavailable += 1;
                }
            }
            next += 1;
        }
        if poll.stalled_at.is_none() {
            stalls = 0;
        }
        cursor.next = next;
        cursor.stalls = stalls;
        cursor.idle = idle;
        poll
    }

    /// The newest committed, valid frame still held by a slot, if any.
    ///
    /// This looks at what slots hold, not at the poll window: if the newest counters were
    /// abandoned or are still being written, the newest frame that did commit is returned
    /// (the "latest value" of a one-slot ring survives an abandoned write).
    #[must_use]
    pub fn read_head(&self) -> Option<Frame<N>> {
        let head = self.head();
        let oldest = head.saturating_sub(self.capacity() as u64);
        let mut buf = <PayloadSize<N> as SupportedPayload>::ZERO_BUF;
        let mut best: Option<Frame<N>> = None;
        // Walking back from the newest counter, a slot holds exactly that counter, an older lap
        // of it, or (a writer raced us) a newer one; once the best frame found is at least the
        // counter being visited, no slot still to visit can hold anything newer.
        for counter in (oldest..head).rev() {
            if best.as_ref().is_some_and(|frame| frame.counter >= counter) {
                break;
            }
            if let Some((held, header)) = self.inspect_latest(counter, &mut buf)
                && best.as_ref().is_none_or(|frame| frame.counter < held)
            {
                best = Self::owned(held, header, &buf);
            }
        }
        best
    }

    /// The frame with exactly this id (kind, node and counter), if a slot still holds it.
    #[must_use]
    pub fn read(&self, id: NetId64) -> Option<Frame<N>> {
        let newest = self.head().checked_sub(1)?;
        // The newest counter <= `newest` whose low 40 bits are the id's.
        let back = newest.wrapping_sub(id.counter()) & NetId64::COUNTER_MASK;
        let counter = newest.checked_sub(back)?;
        let mut buf = <PayloadSize<N> as SupportedPayload>::ZERO_BUF;
        match self.inspect(counter, &mut buf) {
            Inspect::Frame(header) if header.id == id => Self::owned(counter, header, &buf),
            Inspect::Frame(_) | Inspect::Pending { .. } | Inspect::Gone | Inspect::Invalid => None,
        }
    }

    fn owned(
        counter: u64,
        header: Header,
        buf: &<PayloadSize<N> as SupportedPayload>::Buf,
    ) -> Option<Frame<N>> {
        Frame::from_ref(&FrameRef {
            id: header.id,
            counter,
            kind: header.kind,
            version: header.version,
            payload: words::bytes(buf.as_ref(), header.len),
        })
    }

    /// Empties the ring: head back to 0, every slot empty, generation + 1. Live cursors notice
    /// the new generation on their next poll and restart from counter 0
    /// ([`Poll::rewound`]).
    ///
    /// Meant for owner-controlled cleanup while no writer is active (for example at boot): a
    /// writer racing a reset may leave a frame from before it, which readers count as lost.
    ///
    /// A held writer lease survives the reset: its [`ExclusiveWriter`] continues from 0 (a
    /// writer racing the reset may still be told [`PublishError::LeaseLost`]).
    pub fn reset(&self) {
        self.head.counter.fetch_and(LEASED, Ordering::Relaxed);
        for slot in self.slots {
            slot.seq.store(0, Ordering::Relaxed);
        }
        // SYNC: Release pairs with the Acquire generation loads in poll_with() and
        // cursor_at_head(): who sees the new generation sees the stores above.
        self.head.generation.fetch_add(1, Ordering::Release);
    }
}

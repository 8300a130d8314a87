//! [`Head`]: the ring's control words, and the encodings of the head word and the lease token.
//!
//! | line | word         | written by                                    | read by                     |
//! |------|--------------|-----------------------------------------------|-----------------------------|
//! | 0    | `word`       | claims (CAS), the lease holder (plain stores) | writers; readers now and then |
//! | 0    | `lease`      | lease take / close (CAS)                      | the lease holder, every publish |
//! | 0    | `epochs`     | lease take (RMW)                              | nobody (a token source)     |
//! | 0    | `waiters`    | waiters set it, waking writers clear it (RMW; hosted) | writers, after each commit |
//! | 1    | `base`       | reset, under the lease                        | readers, every frame        |
//! | 1    | `generation` | reset, under the lease                        | observers (display only)    |
//! | 1    | `wake`       | writers that found waiters (RMW; hosted)      | waiters (the futex word)    |
//!
//! The two lines keep readers off the writers' line: a caught-up reader checks `base` once per
//! frame (a line only a reset writes) and loads `word` only when a slot does not hold the frame
//! it wants. `waiters` sits on the writers' line, which every commit already has in its cache:
//! only a waiter registering (not a spinning reader) touches it.
//!
//! Bare-metal targets (`target_os = "none"`) have no cache lines to keep apart and no futex:
//! their `Head` is the four words `word`, `lease`, `counts` and `base` (32 bytes), where
//! `counts` packs the lease epochs (low half) and the generation (high half), each wrapping at
//! 2^32 on its own. The shared-memory layout (hosts) is unchanged.

#[cfg(not(target_os = "none"))]
use crate::sync::AtomicU32;
use crate::sync::{AtomicU64, Ordering};

/// The ring's shared control words: the head word (next counter to claim, plus the writer-lease
/// flag in bit 63), the lease token, and the generation's base counter, on two cache lines.
///
/// Like [`Slot`](crate::Slot), it may live in a `static`, on the heap or inside a shared
/// mapping; any bit pattern is a valid `Head` (hostile values are survived, not trusted).
///
/// 128 bytes on hosted targets (two cache lines, the shared-memory layout); 32 bytes on
/// bare-metal ones (`target_os = "none"`), which have no cache lines to keep apart.
///
/// # Examples
///
/// One `Head` per ring, next to its slots; every handle over the pair sees the same counters.
/// [`Head::starting_at`] restores a counter saved elsewhere:
///
/// ```
/// use orbit_rs::{Head, Ring, Slot};
///
/// static SLOTS: [Slot<32>; 8] = [Slot::EMPTY; 8];
/// static HEAD: Head = Head::new();
/// let ring = Ring::new(&SLOTS, &HEAD)?;
/// ring.publish(0, 0, b"a")?;
/// assert_eq!(Ring::new(&SLOTS, &HEAD)?.head(), 1); // another handle, the same ring
///
/// let slots = [Slot::<32>::EMPTY; 8];
/// let restored = Head::starting_at(1_000);
/// let ring = Ring::new(&slots, &restored)?;
/// assert_eq!(ring.publish(0, 0, b"b")?.counter(), 1_000);
/// assert_eq!(ring.head(), 1_001);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[repr(C)]
#[cfg_attr(not(target_os = "none"), repr(align(64)))]
pub struct Head {
    /// Next counter to claim (bits 0..63) and [`LEASED`] (bit 63).
    pub(crate) word: AtomicU64,
    /// The lease token ([`LeaseToken`]); `0` when nobody holds or closes a lease.
    pub(crate) lease: AtomicU64,
    /// Leases taken so far: the source of token epochs.
    #[cfg(not(target_os = "none"))]
    pub(crate) epochs: AtomicU64,
    /// Bare metal: the lease epochs (low half) and the generation (high half), one word.
    #[cfg(target_os = "none")]
    counts: AtomicU64,
    /// Set by a reader about to sleep, cleared by the writer that wakes the sleepers (see
    /// `ring/wait.rs`); writers wake only while it is set.
    #[cfg(not(target_os = "none"))]
    pub(crate) waiters: AtomicU32,
    #[cfg(not(target_os = "none"))]
    _waiters_pad: AtomicU32,
    #[cfg(not(target_os = "none"))]
    _writers_line: [AtomicU64; 4],
    /// First counter of the current generation. Counters never restart: a reset moves the
    /// base to the head, and users see counters relative to it.
    pub(crate) base: AtomicU64,
    /// Resets so far (shown to users; the protocol keys generations on `base`).
    #[cfg(not(target_os = "none"))]
    pub(crate) generation: AtomicU64,
    /// Bumped by every wake; the word waiters sleep on (`futex`).
    #[cfg(not(target_os = "none"))]
    pub(crate) wake: AtomicU32,
    #[cfg(not(target_os = "none"))]
    _wake_pad: AtomicU32,
    #[cfg(not(target_os = "none"))]
    _readers_line: [AtomicU64; 5],
}

/// Bit 63 of the head word: a lease is held, so multi-writer claims refuse. Counters never
/// reach it (the largest representable counter is `2^63 - 2`).
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
            word: AtomicU64::new(0),
            lease: AtomicU64::new(0),
            #[cfg(not(target_os = "none"))]
            epochs: AtomicU64::new(0),
            #[cfg(target_os = "none")]
            counts: AtomicU64::new(0),
            #[cfg(not(target_os = "none"))]
            waiters: AtomicU32::new(0),
            #[cfg(not(target_os = "none"))]
            _waiters_pad: AtomicU32::new(0),
            #[cfg(not(target_os = "none"))]
            _writers_line: [const { AtomicU64::new(0) }; 4],
            base: AtomicU64::new(0),
            #[cfg(not(target_os = "none"))]
            generation: AtomicU64::new(0),
            #[cfg(not(target_os = "none"))]
            wake: AtomicU32::new(0),
            #[cfg(not(target_os = "none"))]
            _wake_pad: AtomicU32::new(0),
            #[cfg(not(target_os = "none"))]
            _readers_line: [const { AtomicU64::new(0) }; 5],
        }
    }

    /// A fresh head: counter 0, generation 0, no writer lease.
    #[cfg(loom)]
    #[must_use]
    pub fn new() -> Self {
        Self {
            word: AtomicU64::new(0),
            lease: AtomicU64::new(0),
            epochs: AtomicU64::new(0),
            waiters: AtomicU32::new(0),
            _waiters_pad: AtomicU32::new(0),
            _writers_line: core::array::from_fn(|_| AtomicU64::new(0)),
            base: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            wake: AtomicU32::new(0),
            _wake_pad: AtomicU32::new(0),
            _readers_line: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// A head whose next counter is `counter` (taken modulo 2^63), in generation 0 starting at
    /// counter 0: restored state, or tests of huge counters.
    #[must_use]
    pub fn starting_at(counter: u64) -> Self {
        let head = Self::new();
        head.word.store(counter_of(counter), Ordering::Relaxed);
        head
    }
}

/// Test hook (feature `__test-hooks`): any values shared memory could hold.
/// The two counters only lease holders move: token epochs and the generation.
impl Head {
    /// Takes the next lease epoch (a token source; only its low 30 bits are used).
    #[cfg(not(target_os = "none"))]
    pub(crate) fn next_epoch(&self) -> u64 {
        self.epochs.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a reset. Called by a lease holder only.
    #[cfg(not(target_os = "none"))]
    pub(crate) fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Resets so far.
    #[cfg(not(target_os = "none"))]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Takes the next lease epoch: the low half of `counts`, wrapping on its own.
    #[cfg(target_os = "none")]
    pub(crate) fn next_epoch(&self) -> u64 {
        self.update_counts(counts::next_epoch) & u64::from(u32::MAX)
    }

    /// Counts a reset: the high half of `counts`, wrapping on its own.
    #[cfg(target_os = "none")]
    pub(crate) fn bump_generation(&self) {
        self.update_counts(counts::next_generation);
    }

    /// Resets so far, modulo 2^32 on bare metal.
    #[cfg(target_os = "none")]
    pub(crate) fn generation(&self) -> u64 {
        self.counts.load(Ordering::Relaxed) >> 32
    }

    /// Replaces `counts` by `f(counts)` atomically; returns the old word.
    #[cfg(target_os = "none")]
    fn update_counts(&self, f: fn(u64) -> u64) -> u64 {
        let mut old = self.counts.load(Ordering::Relaxed);
        loop {
            match self.counts.compare_exchange_weak(
                old,
                f(old),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return old,
                Err(now) => old = now,
            }
        }
    }
}

/// The bare-metal `counts` word: lease epochs in the low half, the generation in the high
/// half, each wrapping at 2^32 without touching the other.
#[cfg_attr(not(any(target_os = "none", test)), allow(dead_code))]
mod counts {
    /// `counts` with the epoch half advanced by one.
    pub(super) const fn next_epoch(word: u64) -> u64 {
        (word & !(u32::MAX as u64)) | ((word as u32).wrapping_add(1) as u64)
    }

    /// `counts` with the generation half advanced by one.
    pub(super) const fn next_generation(word: u64) -> u64 {
        (word & u32::MAX as u64) | ((((word >> 32) as u32).wrapping_add(1) as u64) << 32)
    }
}

#[cfg(feature = "__test-hooks")]
impl Head {
    /// Stores raw values into the head word (counter and lease bit) and the generation base,
    /// as a hostile or corrupt peer sharing the memory could.
    #[doc(hidden)]
    pub fn forge_for_test(&self, word: u64, base: u64) {
        self.word.store(word, Ordering::Relaxed);
        self.base.store(base, Ordering::Relaxed);
    }
}

#[cfg(feature = "std")]
impl Head {
    /// Moves a head nobody uses yet to a random start below 2^40, so cursors can tell this ring
    /// from another one (a re-created segment, a ring of another fleet handle): a cursor keys
    /// its generation on the base counter. Users still see counters from 0.
    pub(crate) fn seed_start(&self) {
        use core::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            hasher.write_u128(now.as_nanos());
        }
        let start = hasher.finish() & ((1 << 40) - 1);
        self.word.store(start, Ordering::Relaxed);
        self.base.store(start, Ordering::Relaxed);
    }
}

impl Default for Head {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Head {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let word = self.word.load(Ordering::Relaxed);
        f.debug_struct("Head")
            .field("counter", &counter_of(word))
            .field("leased", &(word & LEASED != 0))
            .field("base", &self.base.load(Ordering::Relaxed))
            .field("generation", &self.generation())
            .finish()
    }
}

/// Who holds (or is closing) a ring's writer lease: the identity a lease is taken, checked,
/// released and broken by.
///
/// A token is `state (2 bits) | epoch (30 bits) | owner (32 bits)`: the *owner* is a tag the
/// taker chose (the `std` layer records which fleet member took it), the *epoch* counts lease
/// takes on the ring, so a new lease of the same owner never looks like an old one (until
/// 2^30 further takes).
///
/// # Examples
///
/// Whoever knows that a lease holder is gone breaks its lease by the token it looked at:
///
/// ```
/// use orbit_rs::{Head, PublishError, Ring, Slot};
///
/// let slots = [Slot::<16>::EMPTY; 8];
/// let head = Head::new();
/// let ring = Ring::new(&slots, &head)?.with_owner(7);
///
/// let writer = ring.exclusive_writer()?;
/// let holder = ring.lease_holder().expect("a writer holds the lease");
/// assert_eq!(holder, writer.token());
/// assert!(holder.is_writer() && holder.owner() == 7);
///
/// std::mem::forget(writer); // the holder vanishes without releasing its lease
/// assert_eq!(ring.publish(0, 0, b"x"), Err(PublishError::Leased));
/// assert!(ring.break_lease(holder, 8)); // 8: the breaker's own owner tag
/// assert_eq!(ring.lease_holder(), None);
/// ring.publish(0, 0, b"x")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LeaseToken(pub(crate) u64);

/// Token state: an exclusive writer holds the lease.
pub(crate) const HELD: u64 = 1 << 62;
/// Token state: a reset holds the lease for a moment.
pub(crate) const RESETTING: u64 = 2 << 62;
/// Token state: the lease is being released or broken by the closer named in the owner bits.
pub(crate) const CLOSING: u64 = 3 << 62;
const STATE_MASK: u64 = 3 << 62;
const EPOCH_MASK: u64 = (1 << 30) - 1;

impl LeaseToken {
    pub(crate) const fn new(state: u64, epoch: u64, owner: u32) -> Self {
        Self(state | ((epoch & EPOCH_MASK) << 32) | owner as u64)
    }

    /// The tag of whoever holds the lease (or, while it closes, of its closer).
    #[must_use]
    pub const fn owner(self) -> u32 {
        self.0 as u32
    }

    /// True while an exclusive writer holds the lease.
    #[must_use]
    pub const fn is_writer(self) -> bool {
        self.0 & STATE_MASK == HELD
    }

    /// True while a reset holds the lease.
    #[must_use]
    pub const fn is_reset(self) -> bool {
        self.0 & STATE_MASK == RESETTING
    }

    /// True while the lease is being released or broken; [`owner`](Self::owner) is the closer.
    #[must_use]
    pub const fn is_closing(self) -> bool {
        self.0 & STATE_MASK == CLOSING
    }

    /// What a publisher or taker that found this token in the lease word is told.
    pub(crate) const fn refusal(self) -> crate::PublishError {
        match self.0 & STATE_MASK {
            HELD => crate::PublishError::Leased,
            RESETTING => crate::PublishError::Resetting,
            _ => crate::PublishError::LeaseEnding,
        }
    }

    /// The same epoch, in the closing state, closed by `by`.
    pub(crate) const fn closing_by(self, by: u32) -> Self {
        Self(CLOSING | (self.0 & (EPOCH_MASK << 32)) | by as u64)
    }

    /// The raw token word, for logs.
    #[must_use]
    pub const fn to_raw(self) -> u64 {
        self.0
    }
}

impl core::fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = match self.0 & STATE_MASK {
            HELD => "writer",
            RESETTING => "reset",
            CLOSING => "closing",
            _ => "invalid",
        };
        write!(
            f,
            "LeaseToken({state}, owner {}, epoch {})",
            self.owner(),
            (self.0 >> 32) & EPOCH_MASK
        )
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn head_is_two_lines() {
        assert_eq!(core::mem::size_of::<Head>(), 128);
    }

    #[test]
    fn bare_metal_counts_wrap_each_half_on_its_own() {
        assert_eq!(counts::next_epoch(0), 1);
        assert_eq!(counts::next_generation(0), 1 << 32);
        assert_eq!(counts::next_epoch(7 << 32 | 0xFFFF_FFFF), 7 << 32);
        assert_eq!(counts::next_generation(0xFFFF_FFFF_0000_0005), 5);
        assert_eq!(
            counts::next_generation(counts::next_epoch(41 << 32 | 9)),
            42 << 32 | 10
        );
        assert_eq!(core::mem::offset_of!(Head, base), 64);
        assert_eq!(core::mem::offset_of!(Head, waiters), 24);
        assert_eq!(core::mem::offset_of!(Head, wake), 80);
    }

    #[test]
    fn tokens_keep_owner_epoch_and_state_apart() {
        let t = LeaseToken::new(HELD, (1 << 30) + 5, u32::MAX);
        assert!(t.is_writer() && !t.is_reset() && !t.is_closing());
        assert_eq!(t.owner(), u32::MAX);
        let c = t.closing_by(7);
        assert!(c.is_closing());
        assert_eq!(c.owner(), 7);
        assert_eq!((c.0 >> 32) & EPOCH_MASK, 5);
        assert_ne!(
            LeaseToken::new(HELD, 0, 0).0,
            0,
            "a held token is never the free word"
        );
    }
}

// The compact bare-metal layout (issue #14): four words, no padding.
#[cfg(target_os = "none")]
const _: () = assert!(core::mem::size_of::<Head>() == 32);

//! Reader state ([`Cursor`]) and what one poll reports ([`Poll`], [`Loss`], [`Patience`]).

/// A reader's position: the next counter it wants in the generation it last saw.
///
/// Cursors are plain values owned by the reader; any number of them read one ring
/// independently. Counters are relative to the generation: they start at 0 on a fresh ring and
/// again after every [`Ring::reset`](crate::Ring::reset).
///
/// # Examples
///
/// A late joiner replays history; a live reader sees only what comes after it joined:
///
/// ```
/// use orbit_rs::{Cursor, Head, Ring, Slot};
///
/// let slots = [Slot::<16>::EMPTY; 8];
/// let head = Head::new();
/// let ring = Ring::new(&slots, &head)?;
/// ring.publish(0, 0, b"boot")?;
///
/// let mut replay = Cursor::from_start();
/// let mut live = ring.cursor_at_head();
/// ring.publish(0, 0, b"tick")?;
///
/// assert_eq!(ring.poll(&mut replay, |_| {}).delivered, 2);
/// assert_eq!(ring.poll(&mut live, |_| {}).delivered, 1);
/// assert_eq!((replay.next_counter(), live.next_counter()), (2, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Cursor {
    /// The next counter, relative to `base`.
    pub(crate) next: u64,
    /// The internal counter the cursor's generation started at; meaningful once `joined`.
    pub(crate) base: u64,
    /// The ring's base word as the cursor last saw it: the generation's identity. Equal to
    /// `base` unless shared memory held a base past the head (then `base` is the head).
    pub(crate) key: u64,
    /// False until the first poll adopts the ring's generation (no sentinel value: a shared
    /// `base` word can hold any value).
    pub(crate) joined: bool,
    /// Consecutive polls that found `next` stuck (claimed, not committed, later frames
    /// committed).
    pub(crate) stalls: u32,
    /// Polls in a row that ended at an untouched slot without loading the head.
    pub(crate) idle: u32,
}

impl Cursor {
    /// Replay whatever is still in the ring (counter 0; the overwritten part is reported lost).
    #[must_use]
    pub const fn from_start() -> Self {
        Self::from_counter(0)
    }

    /// Start at a known next counter of the generation the first poll finds. A counter past
    /// the ring's head is brought back to the head by that poll ([`Poll::rewound`]), so no
    /// frame published meanwhile is skipped.
    #[must_use]
    pub const fn from_counter(next_counter: u64) -> Self {
        Self {
            next: next_counter,
            base: 0,
            key: 0,
            joined: false,
            stalls: 0,
            idle: 0,
        }
    }

    /// The next counter this cursor will read.
    #[must_use]
    pub const fn next_counter(self) -> u64 {
        self.next
    }

    /// A cursor already in the generation whose base word is `key` (effective base `base`).
    pub(crate) const fn joined(key: u64, base: u64, next: u64) -> Self {
        Self {
            next,
            base,
            key,
            joined: true,
            stalls: 0,
            idle: 0,
        }
    }
}

impl Default for Cursor {
    fn default() -> Self {
        Self::from_start()
    }
}

/// Frames a poll could not deliver.
///
/// `overwritten + unavailable` is the reader's loss; every counter a poll walks past is either
/// delivered or counted here, never dropped silently.
///
/// # Examples
///
/// A reader that falls more than a ring behind is told how much it missed:
///
/// ```
/// use orbit_rs::{Cursor, Head, Loss, Ring, Slot};
///
/// let slots = [Slot::<16>::EMPTY; 4];
/// let head = Head::new();
/// let ring = Ring::new(&slots, &head)?;
/// for reading in 0..6u8 {
///     ring.publish(0, 0, &[reading])?;
/// }
///
/// let mut cursor = Cursor::from_start();
/// let poll = ring.poll(&mut cursor, |_| {});
/// assert_eq!(poll.delivered, 4); // counters 2..6 are still in the 4 slots
/// assert_eq!(poll.loss, Loss { overwritten: 2, unavailable: 0 });
/// assert_eq!(poll.loss.total(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Loss {
    /// Counters older than the ring window (`head - capacity`), or whose slot a later lap took
    /// while the reader looked: the reader fell behind.
    pub overwritten: u64,
    /// Counters inside the window whose slot holds no valid frame for them: failed validation
    /// (hostile or corrupt bytes), a writer that abandoned its frame, or a writer stuck
    /// mid-write past the reader's [`Patience`].
    pub unavailable: u64,
}

impl Loss {
    /// `overwritten + unavailable` (saturating).
    #[must_use]
    pub const fn total(self) -> u64 {
        self.overwritten.saturating_add(self.unavailable)
    }
}

/// What one poll did.
///
/// # Examples
///
/// ```
/// use orbit_rs::{Cursor, Head, Ring, Slot};
///
/// let slots = [Slot::<16>::EMPTY; 8];
/// let head = Head::new();
/// let ring = Ring::new(&slots, &head)?;
/// let mut cursor = Cursor::from_start();
///
/// ring.publish(0, 0, b"a")?;
/// let poll = ring.poll(&mut cursor, |_| {});
/// assert_eq!((poll.delivered, poll.accounted(), poll.rewound), (1, 1, false));
/// assert!(ring.poll(&mut cursor, |_| {}).is_empty()); // caught up
///
/// ring.reset()?; // a new generation: the cursor is moved back to its counter 0
/// let poll = ring.poll(&mut cursor, |_| {});
/// assert!(poll.rewound);
/// assert_eq!(cursor.next_counter(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Poll {
    /// Frames handed to the visitor, in counter order.
    pub delivered: u64,
    /// Frames walked past without delivery.
    pub loss: Loss,
    /// The poll stopped at this counter because its writer has claimed but not committed it
    /// while later counters are already committed. The next poll retries it; see
    /// [`Patience`].
    pub stalled_at: Option<u64>,
    /// The cursor was moved back instead of forward: either the ring was reset since its last
    /// poll (it restarted at counter 0 of the new generation; frames of the old generation it
    /// had not read were discarded by the reset, not counted as loss), or it stood past the
    /// ring's head (a [`Cursor::from_counter`] ahead of the head, or a cursor carried over
    /// from another ring) and was brought back to the head.
    pub rewound: bool,
}

impl Poll {
    /// True if nothing was delivered or lost.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.delivered == 0 && self.loss.total() == 0
    }

    /// Every counter the poll accounted for: `delivered + lost`.
    #[must_use]
    pub const fn accounted(&self) -> u64 {
        self.delivered.saturating_add(self.loss.total())
    }
}

/// How long a poll waits for a writer that claimed a counter but has not committed it while
/// later counters are already committed (a crashed process, or a writer preempted by an
/// interrupt that publishes too).
///
/// A pending counter with nothing committed after it is simply the end of the stream: a poll
/// stops there and never counts it, whatever the patience.
///
/// # Examples
///
/// A reader with a clock waits on a stuck counter with [`Patience::Wait`] and gives up on it
/// once its own deadline has passed:
///
/// ```
/// use std::time::{Duration, Instant};
/// use orbit_rs::{Cursor, Head, Patience, Ring, Slot};
///
/// let slots = [Slot::<16>::EMPTY; 8];
/// let head = Head::new();
/// let ring = Ring::new(&slots, &head)?;
/// let mut cursor = Cursor::from_start();
/// let mut waiting: Option<(u64, Instant)> = None; // a stuck counter, and since when
///
/// ring.publish(0, 0, b"x")?;
/// let patience = match waiting {
///     Some((counter, since)) if since.elapsed() >= Duration::from_millis(50) => {
///         Patience::GiveUpOn(counter)
///     }
///     _ => Patience::Wait,
/// };
/// let poll = ring.poll_with(&mut cursor, patience, |_| {});
/// waiting = match (poll.stalled_at, waiting) {
///     (Some(counter), Some((held, since))) if counter == held => Some((held, since)),
///     (stalled, _) => stalled.map(|counter| (counter, Instant::now())),
/// };
/// assert_eq!((poll.delivered, waiting), (1, None)); // no writer is stuck here
/// assert_eq!(Patience::default(), Patience::Polls);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Patience {
    /// Give up after the ring's [`stall_polls`](crate::Ring::with_stall_polls) consecutive
    /// polls stuck on the same counter (the no-clock default).
    #[default]
    Polls,
    /// Never give up: the caller measures time itself (as the `std` layer does) and asks for
    /// [`Patience::GiveUpOn`] once its deadline for that counter passes.
    Wait,
    /// Count this counter (the [`Poll::stalled_at`] the caller has waited on) as unavailable if
    /// it is still stuck, and walk on; any other stuck counter stops the walk as under
    /// [`Patience::Wait`], so a writer that is mid-write right now is never given up on.
    GiveUpOn(u64),
}

//! Reader state ([`Cursor`]) and what one poll reports ([`Poll`], [`Loss`], [`Patience`]).

/// A reader's position: the next counter it wants, plus the ring generation it last saw.
///
/// Cursors are plain values owned by the reader; any number of them read one ring
/// independently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Cursor {
    pub(crate) next: u64,
    /// Generation of the ring this cursor belongs to; [`Cursor::ANY_GENERATION`] adopts the
    /// ring's on the first poll.
    pub(crate) generation: u64,
    /// Consecutive polls that found `next` stuck (claimed, not committed, later frames
    /// committed).
    pub(crate) stalls: u32,
    /// Polls in a row that ended at an untouched slot without loading the head.
    pub(crate) idle: u32,
}

impl Cursor {
    pub(crate) const ANY_GENERATION: u64 = u64::MAX;

    /// Replay whatever is still in the ring (counter 0; the overwritten part is reported lost).
    #[must_use]
    pub const fn from_start() -> Self {
        Self::from_counter(0)
    }

    /// Start at a known next counter.
    #[must_use]
    pub const fn from_counter(next_counter: u64) -> Self {
        Self {
            next: next_counter,
            generation: Self::ANY_GENERATION,
            stalls: 0,
            idle: 0,
        }
    }

    /// The next counter this cursor will read.
    #[must_use]
    pub const fn next_counter(self) -> u64 {
        self.next
    }

    pub(crate) const fn in_generation(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
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
    /// The ring was reset (or its head moved backwards) since this cursor's last poll; the
    /// cursor restarted from counter 0 of the new generation.
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Patience {
    /// Give up after the ring's [`stall_polls`](crate::Ring::with_stall_polls) consecutive
    /// polls stuck on the same counter (the no-clock default).
    #[default]
    Polls,
    /// Never give up: the caller measures time itself (as the `std` layer does) and asks for
    /// [`Patience::GiveUp`] once its deadline passes.
    Wait,
    /// Count a stuck counter as unavailable now and walk on.
    GiveUp,
}

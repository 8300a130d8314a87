//! Errors of ring construction and publishing. Loss is not an error: see [`Poll`](crate::Poll).

use core::fmt;

/// The slot memory handed to [`Ring::new`](crate::Ring::new) cannot form a ring.
///
/// # Examples
///
/// ```
/// use orbit_rs::{Head, Ring, Slot, SpecError};
///
/// let slots = [Slot::<16>::EMPTY; 3];
/// let head = Head::new();
/// let err = Ring::new(&slots, &head).unwrap_err();
/// assert_eq!(err, SpecError::NotPowerOfTwo { capacity: 3 });
/// assert_eq!(err.to_string(), "ring capacity 3 is not a power of two");
/// assert!(Ring::new(&slots[..2], &head).is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SpecError {
    /// No slots at all.
    ZeroCapacity,
    /// The slot count must be a power of two so `counter % capacity` is a mask.
    NotPowerOfTwo {
        /// The slot count given.
        capacity: usize,
    },
    /// More slots than [`Ring::MAX_CAPACITY`](crate::Ring::MAX_CAPACITY).
    TooLarge {
        /// The slot count given.
        capacity: usize,
        /// The largest slot count supported.
        max: usize,
    },
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroCapacity => f.write_str("ring has no slots"),
            Self::NotPowerOfTwo { capacity } => {
                write!(f, "ring capacity {capacity} is not a power of two")
            }
            Self::TooLarge { capacity, max } => {
                write!(f, "ring capacity {capacity} exceeds the maximum {max}")
            }
        }
    }
}

impl core::error::Error for SpecError {}

/// A frame could not be published.
///
/// # Examples
///
/// An oversized payload is refused before anything is claimed; a transient error is worth
/// publishing again:
///
/// ```
/// use orbit_rs::{Head, PublishError, Ring, Slot};
///
/// let slots = [Slot::<16>::EMPTY; 4];
/// let head = Head::new();
/// let ring = Ring::new(&slots, &head)?;
///
/// let err = ring.publish(0, 0, &[0; 20]).unwrap_err();
/// assert_eq!(err, PublishError::PayloadTooLarge { len: 20, max: 16 });
/// assert_eq!(err.to_string(), "payload of 20 bytes exceeds the slot capacity of 16 bytes");
/// assert!(!err.is_transient());
/// assert_eq!(ring.head(), 0); // nothing was claimed
///
/// let id = loop {
///     match ring.publish(0, 0, b"reading") {
///         Err(e) if e.is_transient() => continue,
///         other => break other?,
///     }
/// };
/// assert_eq!(id.counter(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PublishError {
    /// The payload is larger than a slot holds. Nothing was claimed or written.
    PayloadTooLarge {
        /// Bytes offered.
        len: usize,
        /// Slot payload capacity.
        max: usize,
    },
    /// The claimed counter's slot is still held by an older writer that has not committed
    /// (slow, preempted or dead). This writer never waits for it: the frame was abandoned,
    /// readers count its counter as lost, and publishing again claims a fresh counter.
    SlotBusy {
        /// The abandoned counter.
        counter: u64,
        /// The counter the older writer holds the slot for.
        holder: u64,
    },
    /// A writer a full lap ahead already took this counter's slot before this writer could:
    /// the frame would have been overwritten at once, so it was not written. Readers count it
    /// as overwritten.
    Lapped {
        /// The abandoned counter.
        counter: u64,
    },
    /// The ring head is past the last counter whose seq fits in 64 bits (2^63 - 2). Only a
    /// corrupted or hostile head gets here; [`Ring::reset`](crate::Ring::reset) recovers.
    CounterExhausted {
        /// The counter that was claimed.
        counter: u64,
    },
    /// An [`ExclusiveWriter`](crate::ExclusiveWriter) holds the ring: nothing was claimed.
    /// Publishing works again once it is dropped (or its lease broken, if its holder is gone:
    /// [`Ring::break_lease`](crate::Ring::break_lease)).
    Leased,
    /// This [`ExclusiveWriter`](crate::ExclusiveWriter)'s lease was broken
    /// ([`Ring::break_lease`](crate::Ring::break_lease)): nothing was claimed, and this writer
    /// must not publish again.
    LeaseLost,
    /// A [`Ring::reset`](crate::Ring::reset) holds the ring for a moment: nothing was claimed;
    /// publish again.
    Resetting,
    /// A writer lease is being released or broken right now: nothing was claimed; publish
    /// again. (A closer that died mid-close keeps it so until its closing lease is broken.)
    LeaseEnding,
    /// The ring was reset after this writer claimed its counter: the frame would have belonged
    /// to the old generation, so it was not written (nobody reads that generation any more).
    /// Publishing again claims a counter of the new one.
    Reset {
        /// The abandoned counter (internal, below the new generation's base).
        counter: u64,
    },
}

impl PublishError {
    /// True if publishing again may succeed (the ring moved on; a new counter will be claimed).
    #[must_use]
    pub const fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::SlotBusy { .. }
                | Self::Lapped { .. }
                | Self::Resetting
                | Self::LeaseEnding
                | Self::Reset { .. }
        )
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PayloadTooLarge { len, max } => {
                write!(
                    f,
                    "payload of {len} bytes exceeds the slot capacity of {max} bytes"
                )
            }
            Self::SlotBusy { counter, holder } => write!(
                f,
                "frame {counter} abandoned: its slot is still being written for frame {holder}"
            ),
            Self::Lapped { counter } => {
                write!(
                    f,
                    "frame {counter} abandoned: a writer one lap ahead took its slot"
                )
            }
            Self::CounterExhausted { counter } => {
                write!(
                    f,
                    "ring counter {counter} is past the largest representable counter"
                )
            }
            Self::Leased => f.write_str("an exclusive writer holds the ring"),
            Self::LeaseLost => f.write_str("this exclusive writer's lease was broken"),
            Self::Resetting => f.write_str("the ring is being reset; publish again"),
            Self::LeaseEnding => f.write_str("a writer lease is ending; publish again"),
            Self::Reset { counter } => write!(
                f,
                "frame {counter} abandoned: the ring was reset after it was claimed"
            ),
        }
    }
}

impl core::error::Error for PublishError {}

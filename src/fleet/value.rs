//! Typed values: a `bytemuck::Pod` type published and polled as itself, no bytes in sight.
//!
//! A value travels as one frame of kind [`VALUE_FRAME_KIND`] whose payload is the value's
//! bytes and whose version word is the publish time (ms since the Unix epoch). A reader copies
//! the bytes back with an unaligned read of exactly `size_of::<T>()` bytes; a frame of another
//! kind or size under the same ring kind is never reinterpreted — it is counted
//! [unavailable](crate::Loss::unavailable), so nothing is lost silently.

use core::mem::size_of;
use std::vec::Vec;

use super::{FleetRing, FleetWriter, RingCursor};
use crate::error::{Error, Result};
use crate::id::NetId64;
use crate::ring::{FrameRef, Loss};
use crate::typed::OrbitTyped;

/// Frame kind byte of typed values (and [`Orbital`](super::Orbital)'s).
pub(crate) const VALUE_FRAME_KIND: u8 = 2;

/// One value as polled: its id, publish time and the value.
///
/// # Examples
///
/// ```
/// # use orbit_rs::bytemuck::{Pod, Zeroable};
/// # use orbit_rs::{Fleet, OrbitTyped, RingCursor};
/// # #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
/// # #[bytemuck(crate = "orbit_rs::bytemuck")]
/// # #[repr(C)]
/// # struct Tick(u64);
/// # impl OrbitTyped for Tick { const KIND: u8 = 15; const CAPACITY: usize = 8; const PAYLOAD: usize = 8; }
/// let fleet = Fleet::join_as("sample-doc", 4, 3u16)?;
/// let ticks = fleet.ring::<Tick>()?;
/// let id = ticks.publish(&Tick(42))?;
/// let sample = ticks.latest().expect("just published");
/// assert_eq!((sample.id, sample.value), (id, Tick(42)));
/// assert_eq!(sample.id.node().get(), 3); // who published it
/// assert!(sample.published_ms > 0);
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample<T> {
    /// The frame's id (kind, publishing node, counter).
    pub id: NetId64,
    /// When it was published (ms since the Unix epoch, the publisher's clock).
    pub published_ms: u64,
    /// The value.
    pub value: T,
}

/// What one [`FleetRing::poll`] of values found.
///
/// # Examples
///
/// ```
/// # use orbit_rs::bytemuck::{Pod, Zeroable};
/// # use orbit_rs::{Fleet, OrbitTyped, RingCursor};
/// # #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
/// # #[bytemuck(crate = "orbit_rs::bytemuck")]
/// # #[repr(C)]
/// # struct Tick(u64);
/// # impl OrbitTyped for Tick { const KIND: u8 = 15; const CAPACITY: usize = 8; const PAYLOAD: usize = 8; }
/// let ticks = Fleet::join("value-poll-doc", 1)?.ring::<Tick>()?; // 8 slots
/// let mut cursor = RingCursor::from_start();
/// for i in 0..10 {
///     ticks.publish(&Tick(i))?;
/// }
/// let poll = ticks.poll(&mut cursor);
/// assert_eq!(poll.values.first().map(|s| s.value), Some(Tick(2)));
/// assert_eq!(poll.loss.overwritten, 2); // Tick(0) and Tick(1): counted, never silent
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValuePoll<T> {
    /// Values delivered, in publish (counter) order.
    pub values: Vec<Sample<T>>,
    /// Counters passed without a value: overwritten, unavailable, or frames that are not a `T`
    /// (counted unavailable).
    pub loss: Loss,
    /// The ring was reset (or moved to a fresh segment) since the cursor's last poll.
    pub rewound: bool,
}

impl<T> Default for ValuePoll<T> {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            loss: Loss::default(),
            rewound: false,
        }
    }
}

/// `T` as a value of a frame, if the frame holds exactly one.
pub(super) fn decode<T: bytemuck::Pod>(frame: &FrameRef<'_>) -> Option<Sample<T>> {
    (frame.kind == VALUE_FRAME_KIND && frame.payload.len() == size_of::<T>()).then(|| Sample {
        id: frame.id,
        published_ms: frame.version,
        value: bytemuck::pod_read_unaligned(frame.payload),
    })
}

/// Refuses a `T` the ring's slots (`payload` bytes) cannot hold.
pub(super) fn check_fits<T>(payload: usize) -> Result<()> {
    if size_of::<T>() > payload {
        return Err(Error::ValueTooLarge {
            size: size_of::<T>(),
            max: payload,
        });
    }
    Ok(())
}

/// Typed values of a `Pod` type: `publish(&value)`, `poll(&mut cursor)` → values and loss.
///
/// ```
/// use orbit_rs::{Fleet, OrbitTyped, RingCursor};
/// use orbit_rs::bytemuck::{Pod, Zeroable};
///
/// #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
/// #[bytemuck(crate = "orbit_rs::bytemuck")] // no bytemuck dependency of your own needed
/// #[repr(C)]
/// struct Reading { celsius: f32, sensor: u32 }
/// impl OrbitTyped for Reading {
///     const KIND: u8 = 11;
///     const PAYLOAD: usize = size_of::<Self>(); // 8 bytes: 64-byte slots
/// }
///
/// let fleet = Fleet::join("values-doc", 4)?; // or Fleet::join_shm: the same code across processes
/// let readings = fleet.ring::<Reading>()?;
/// let mut cursor = RingCursor::from_start();
/// readings.publish(&Reading { celsius: 21.5, sensor: 3 })?;
/// let poll = readings.poll(&mut cursor);
/// assert_eq!(poll.values[0].value, Reading { celsius: 21.5, sensor: 3 });
/// assert_eq!(poll.loss.total(), 0);
/// # Ok::<(), orbit_rs::Error>(())
/// ```
impl<T: OrbitTyped + bytemuck::Pod> FleetRing<T> {
    /// Publishes `value`. [`Error::ValueTooLarge`] if `T` does not fit a slot. With several
    /// writers a publish may retry under a new counter and leave the first one counted as
    /// loss: see [`publish_frame`](Self::publish_frame).
    pub fn publish(&self, value: &T) -> Result<NetId64> {
        check_fits::<T>(self.payload())?;
        self.publish_frame(
            VALUE_FRAME_KIND,
            crate::event::now_ms(),
            bytemuck::bytes_of(value),
        )
    }

    /// Every value after `cursor`, and what was lost.
    pub fn poll(&self, cursor: &mut RingCursor) -> ValuePoll<T> {
        self.poll_limit(cursor, usize::MAX)
    }

    /// [`poll`](Self::poll), delivering at most `limit` values: the cursor then rests on the
    /// first value not delivered, so nothing is skipped; poll again for the rest.
    pub fn poll_limit(&self, cursor: &mut RingCursor, limit: usize) -> ValuePoll<T> {
        let mut out = ValuePoll::default();
        let mut foreign = 0;
        let poll = self.poll_with_limit(cursor, limit, |frame| match decode(&frame) {
            Some(sample) => out.values.push(sample),
            None => foreign += 1,
        });
        out.loss = poll.loss;
        out.loss.unavailable += foreign;
        out.rewound = poll.rewound;
        out
    }

    /// Hands every value after `cursor` to `visit` without allocating; frames that are not a
    /// `T` are counted unavailable in the returned loss.
    pub fn poll_each(&self, cursor: &mut RingCursor, mut visit: impl FnMut(Sample<T>)) -> Loss {
        let mut foreign = 0;
        let poll = self.poll_with(cursor, |frame| match decode(&frame) {
            Some(sample) => visit(sample),
            None => foreign += 1,
        });
        let mut loss = poll.loss;
        loss.unavailable += foreign;
        loss
    }

    /// The values after `cursor` one at a time, as an iterator: each `next` reads one slot
    /// (no batch buffer, no copy beyond the value itself) and the iterator ends where the
    /// ring does. What was passed without a value is in [`Drain::loss`].
    pub fn drain<'a>(&'a self, cursor: &'a mut RingCursor) -> Drain<'a, T> {
        Drain {
            ring: self,
            cursor,
            loss: Loss::default(),
            rewound: false,
        }
    }

    /// The newest value still in the ring, if any.
    #[must_use]
    pub fn latest(&self) -> Option<Sample<T>> {
        let frame = self.read_head()?;
        decode(&frame.as_ref())
    }
}

/// An iterator over the values after a cursor, from [`FleetRing::drain`].
///
/// # Examples
///
/// ```
/// # use orbit_rs::bytemuck::{Pod, Zeroable};
/// # use orbit_rs::{Fleet, OrbitTyped, RingCursor};
/// # #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
/// # #[bytemuck(crate = "orbit_rs::bytemuck")]
/// # #[repr(C)]
/// # struct Tick(u64);
/// # impl OrbitTyped for Tick { const KIND: u8 = 15; const CAPACITY: usize = 8; const PAYLOAD: usize = 8; }
/// let ticks = Fleet::join("drain-doc", 1)?.ring::<Tick>()?;
/// let mut cursor = RingCursor::from_start();
/// for i in 0..3 {
///     ticks.publish(&Tick(i))?;
/// }
/// let mut drain = ticks.drain(&mut cursor);
/// let sum: u64 = drain.by_ref().map(|sample| sample.value.0).sum();
/// assert_eq!((sum, drain.loss().total()), (3, 0));
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Debug)]
pub struct Drain<'a, T> {
    ring: &'a FleetRing<T>,
    cursor: &'a mut RingCursor,
    loss: Loss,
    rewound: bool,
}

impl<T> Drain<'_, T> {
    /// Counters passed without a value so far (overwritten, unavailable, or not a `T`).
    #[must_use]
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// True if the ring was reset (or moved to a fresh segment) since the cursor's last poll.
    #[must_use]
    pub fn rewound(&self) -> bool {
        self.rewound
    }
}

impl<T: OrbitTyped + bytemuck::Pod> Iterator for Drain<'_, T> {
    type Item = Sample<T>;

    fn next(&mut self) -> Option<Sample<T>> {
        loop {
            let mut found = None;
            let mut foreign = 0;
            let poll = self
                .ring
                .poll_with_limit(self.cursor, 1, |frame| match decode(&frame) {
                    Some(sample) => found = Some(sample),
                    None => foreign += 1,
                });
            self.loss.overwritten += poll.loss.overwritten;
            self.loss.unavailable += poll.loss.unavailable + foreign;
            self.rewound |= poll.rewound;
            if found.is_some() || poll.delivered == 0 {
                return found;
            }
            // A frame that was not a `T`: counted; look at the next one.
        }
    }
}

impl<T: OrbitTyped + bytemuck::Pod> FleetWriter<T> {
    /// Publishes `value` through the exclusive writer. [`Error::ValueTooLarge`] if `T` does
    /// not fit a slot.
    pub fn publish(&mut self, value: &T) -> Result<NetId64> {
        check_fits::<T>(self.payload())?;
        self.publish_frame(
            VALUE_FRAME_KIND,
            crate::event::now_ms(),
            bytemuck::bytes_of(value),
        )
    }
}

//! Segment header layout and its validation.
//!
//! ```text
//! offset 0    header: magic | layout version | kind | capacity | payload | stride | retired | lanes
//! offset 64   lane 0's Head: head word (next counter | lease bit 63), lease token, lease epochs,
//!             waiter count (u32)
//! offset 128  lane 0's Head: generation base counter, reset count, wake word (u32)
//!                                                                        (own cache line)
//! offset 192  lane 1's Head (128 bytes), ... up to lane `lanes - 1`'s
//! prefix      the heads' end rounded up to 128 (256 for one lane: offset 192 is then reserved)
//! prefix      lane 0's `capacity` × Slot<N>, `stride` bytes each; then lane 1's, ...
//! ```
//!
//! A segment holds `lanes` independent rings of the same spec (a fleet ring is one lane; a
//! fleet's per-node lanes are one lane per node), each with its own head and slots: every
//! lane runs the ring protocol unchanged. Slots start on a 128-byte boundary, so the two lines
//! of a 128-byte slot are the pair the adjacent-line prefetcher fetches together.
//!
//! All words are `u64` atomics in native byte order (the segment never leaves the host). The
//! creator writes every field, then publishes `magic` last with a release store; attachers wait
//! for a non-zero magic (acquire) before trusting anything.

// The layout's items are `pub` for `shm::internals` (the crate's tests and fuzz targets, feature
// `__test-hooks`); without it they are crate-internal.
#![cfg_attr(not(feature = "__test-hooks"), allow(unreachable_pub))]

use core::mem::size_of;
use std::string::String;

use super::{ShmError, SpecField};
use crate::ring::{PayloadSize, Slot, SupportedPayload};
#[cfg(all(feature = "shm", unix))]
use crate::sync::{AtomicU64, Ordering};

/// `b"ORBITRNG"` as a little-endian word.
pub const MAGIC: u64 = u64::from_le_bytes(*b"ORBITRNG");
/// Version of the layout above; bumped on any incompatible change.
pub const LAYOUT_VERSION: u64 = 8;
/// Bytes before the first slot of a one-lane segment (header line, the head's two lines, one
/// reserved line); also the least an attacher maps to read a header.
pub const PREFIX_BYTES: usize = 256;
/// Offset of lane 0's head.
const HEAD_OFFSET: usize = 64;
/// Bytes of one lane's head.
const HEAD_BYTES: usize = size_of::<crate::ring::Head>();
/// Lanes a segment may hold: one per node id of a fleet.
pub(crate) const MAX_LANES: u64 = 1 << 16;

/// The header words as they sit in the mapping.
#[cfg(all(feature = "shm", unix))]
#[repr(C, align(64))]
pub(crate) struct RawHeader {
    pub(crate) magic: AtomicU64,
    pub(crate) version: AtomicU64,
    pub(crate) kind: AtomicU64,
    pub(crate) capacity: AtomicU64,
    pub(crate) payload: AtomicU64,
    pub(crate) stride: AtomicU64,
    /// Non-zero once the segment is retired (its name removed): members move on.
    pub(crate) retired: AtomicU64,
    pub(crate) lanes: AtomicU64,
}

#[cfg(all(feature = "shm", unix))]
const _: () = assert!(size_of::<RawHeader>() == 64);
const _: () = assert!(HEAD_OFFSET + HEAD_BYTES <= PREFIX_BYTES && HEAD_BYTES.is_multiple_of(64));

/// The ring shape a segment must have: what an attacher expects and what a creator writes.
///
/// # Examples
///
/// ```
/// use orbit_rs::shm::Layout;
///
/// // 256 slots of 64-byte payloads: 128-byte slots (a 32-byte header each) after a 256-byte
/// // prefix (the header line and the head).
/// let layout = Layout::of::<64>(7, 256);
/// assert_eq!((layout.stride, layout.lanes), (128, 1));
/// assert_eq!(layout.segment_bytes(), Some(256 + 256 * 128));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Ring kind.
    pub kind: u8,
    /// Slot count (a power of two).
    pub capacity: u64,
    /// Slot payload capacity in bytes.
    pub payload: u64,
    /// Bytes per slot.
    pub stride: u64,
    /// Rings in the segment, each with its own head and `capacity` slots (1 for a fleet ring).
    pub lanes: u64,
}

impl Layout {
    /// The layout of a ring of `capacity` slots of `Slot<N>`.
    #[must_use]
    pub fn of<const N: usize>(kind: u8, capacity: usize) -> Self
    where
        PayloadSize<N>: SupportedPayload,
    {
        Self::lanes_of::<N>(kind, capacity, 1)
    }

    /// The layout of `lanes` rings of `capacity` slots of `Slot<N>` each.
    #[must_use]
    pub fn lanes_of<const N: usize>(kind: u8, capacity: usize, lanes: usize) -> Self
    where
        PayloadSize<N>: SupportedPayload,
    {
        Self {
            kind,
            capacity: capacity as u64,
            payload: N as u64,
            stride: size_of::<Slot<N>>() as u64,
            lanes: lanes as u64,
        }
    }

    /// Bytes before lane 0's first slot: the header and every lane's head, rounded up to 128
    /// (256 bytes for one lane); `None` if that overflows.
    #[must_use]
    #[inline]
    pub fn prefix_bytes(&self) -> Option<u64> {
        let heads = self.lanes.checked_mul(HEAD_BYTES as u64)?;
        Some((HEAD_OFFSET as u64).checked_add(heads)?.checked_add(127)? & !127)
    }

    /// Offset of lane `lane`'s head (for a lane below [`lanes`](Self::lanes)).
    #[inline]
    pub(crate) fn head_offset(&self, lane: usize) -> usize {
        HEAD_OFFSET + lane * HEAD_BYTES
    }

    /// Offset of lane `lane`'s first slot (for a validated layout and a lane below
    /// [`lanes`](Self::lanes)).
    #[inline]
    pub(crate) fn slots_offset(&self, lane: usize) -> usize {
        let prefix = self.prefix_bytes().unwrap_or(u64::MAX) as usize;
        prefix + lane * self.capacity as usize * self.stride as usize
    }

    /// Total segment bytes, or `None` if that overflows.
    #[must_use]
    pub fn segment_bytes(&self) -> Option<u64> {
        self.capacity
            .checked_mul(self.stride)?
            .checked_mul(self.lanes)?
            .checked_add(self.prefix_bytes()?)
    }
}

/// Header values read out of a segment (or out of arbitrary bytes, for fuzzing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeaderFields {
    /// Must be [`MAGIC`].
    pub magic: u64,
    /// Must be [`LAYOUT_VERSION`].
    pub version: u64,
    /// Ring kind.
    pub kind: u64,
    /// Slot count.
    pub capacity: u64,
    /// Slot payload bytes.
    pub payload: u64,
    /// Bytes per slot.
    pub stride: u64,
    /// Rings in the segment.
    pub lanes: u64,
}

// `BYTES` and `from_bytes` serve the fuzz targets and tests (`shm::internals`).
#[cfg_attr(not(feature = "__test-hooks"), allow(dead_code))]
impl HeaderFields {
    /// Bytes [`from_bytes`](Self::from_bytes) reads.
    pub const BYTES: usize = 64;

    /// Reads the fields from the first [`BYTES`](Self::BYTES) bytes (native order); `None` if
    /// there are fewer.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes = bytes.get(..Self::BYTES)?;
        let word = |i: usize| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(raw)
        };
        Some(Self {
            magic: word(0),
            version: word(1),
            kind: word(2),
            capacity: word(3),
            payload: word(4),
            stride: word(5),
            lanes: word(7),
        })
    }

    #[cfg(all(feature = "shm", unix))]
    pub(crate) fn load(raw: &RawHeader) -> Self {
        // SYNC: Acquire pairs with the Release store of the magic in RawHeader::publish():
        // seeing the magic means seeing every field the creator wrote before it.
        // Relaxed load + acquire fence: an observer's mapping is read-only (see segment.rs).
        let magic = crate::sync::load_acquire(&raw.magic);
        Self {
            magic,
            version: raw.version.load(Ordering::Relaxed),
            kind: raw.kind.load(Ordering::Relaxed),
            capacity: raw.capacity.load(Ordering::Relaxed),
            payload: raw.payload.load(Ordering::Relaxed),
            stride: raw.stride.load(Ordering::Relaxed),
            lanes: raw.lanes.load(Ordering::Relaxed),
        }
    }

    /// Checks the header against the expected layout and the object's real size; returns the
    /// number of bytes to map.
    pub fn validate(
        &self,
        segment: &str,
        object_size: u64,
        expected: &Layout,
    ) -> Result<u64, ShmError> {
        let segment = || String::from(segment);
        if self.magic != MAGIC {
            return Err(ShmError::BadMagic {
                segment: segment(),
                found: self.magic,
                expected: MAGIC,
            });
        }
        if self.version != LAYOUT_VERSION {
            return Err(ShmError::LayoutVersion {
                segment: segment(),
                found: self.version,
                expected: LAYOUT_VERSION,
            });
        }
        let checks = [
            (SpecField::Kind, u64::from(expected.kind), self.kind),
            (SpecField::Payload, expected.payload, self.payload),
            (SpecField::Stride, expected.stride, self.stride),
            (SpecField::Capacity, expected.capacity, self.capacity),
            (SpecField::Lanes, expected.lanes, self.lanes),
        ];
        for (field, expected, found) in checks {
            if expected != found {
                return Err(ShmError::SpecMismatch {
                    segment: segment(),
                    field,
                    expected,
                    found,
                });
            }
        }
        // Equal to the expected layout from here on, so this cannot overflow for a layout the
        // attacher could build; check anyway rather than trust it.
        let needed = expected.segment_bytes().unwrap_or(u64::MAX);
        if object_size < needed {
            return Err(ShmError::TooSmall {
                segment: segment(),
                size: object_size,
                needed,
            });
        }
        Ok(needed)
    }
}

#[cfg(all(feature = "shm", unix))]
impl RawHeader {
    /// Creator only, before any attacher can validate: writes every field, then the magic.
    pub(crate) fn publish(&self, layout: &Layout) {
        self.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        self.kind.store(u64::from(layout.kind), Ordering::Relaxed);
        self.capacity.store(layout.capacity, Ordering::Relaxed);
        self.payload.store(layout.payload, Ordering::Relaxed);
        self.stride.store(layout.stride, Ordering::Relaxed);
        self.lanes.store(layout.lanes, Ordering::Relaxed);
        // SYNC: Release pairs with the Acquire magic load in HeaderFields::load().
        self.magic.store(MAGIC, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn good() -> (HeaderFields, Layout) {
        let layout = Layout::of::<64>(7, 16);
        let fields = HeaderFields {
            magic: MAGIC,
            version: LAYOUT_VERSION,
            kind: 7,
            capacity: 16,
            payload: 64,
            stride: 128,
            lanes: 1,
        };
        (fields, layout)
    }

    #[test]
    fn accepts_a_matching_header_and_reports_the_size() {
        let (fields, layout) = good();
        assert_eq!(
            fields
                .validate("/s", PREFIX_BYTES as u64 + 16 * 128, &layout)
                .unwrap(),
            PREFIX_BYTES as u64 + 16 * 128
        );
    }

    #[test]
    fn names_each_mismatch() {
        let (fields, layout) = good();
        let cases: [(HeaderFields, &str); 8] = [
            (
                HeaderFields { magic: 0, ..fields },
                "magic 0x0000000000000000",
            ),
            (
                HeaderFields {
                    version: 9,
                    ..fields
                },
                "layout version 9",
            ),
            (HeaderFields { kind: 8, ..fields }, "Kind 8, expected 7"),
            (
                HeaderFields {
                    capacity: 32,
                    ..fields
                },
                "Capacity 32, expected 16",
            ),
            (
                HeaderFields {
                    payload: 56,
                    ..fields
                },
                "Payload 56, expected 64",
            ),
            (
                HeaderFields {
                    stride: 64,
                    ..fields
                },
                "Stride 64, expected 128",
            ),
            (HeaderFields { lanes: 0, ..fields }, "Lanes 0, expected 1"),
            (fields, "is 100 bytes but its ring needs 2304"),
        ];
        for (bad, phrase) in cases {
            let err = bad
                .validate(
                    "/orbit-x-7-0",
                    if bad == fields { 100 } else { 4096 },
                    &layout,
                )
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("/orbit-x-7-0") && err.contains(phrase),
                "{err}"
            );
        }
    }

    #[test]
    fn lanes_have_their_own_heads_and_slots() {
        let one = Layout::of::<64>(7, 16);
        assert_eq!(one.prefix_bytes(), Some(PREFIX_BYTES as u64));
        assert_eq!(
            (one.head_offset(0), one.slots_offset(0)),
            (64, PREFIX_BYTES)
        );
        let three = Layout::lanes_of::<64>(7, 4, 3);
        // Heads at 64, 192, 320 (128 bytes each, ending at 448), slots from 512.
        assert_eq!(three.head_offset(2), 64 + 2 * HEAD_BYTES);
        assert_eq!(three.prefix_bytes(), Some(512));
        assert_eq!(three.slots_offset(1), 512 + 4 * 128);
        assert_eq!(three.segment_bytes(), Some(512 + 3 * 4 * 128));
        let huge = Layout::lanes_of::<64>(7, 4, usize::MAX);
        assert_eq!(huge.segment_bytes(), None);
    }

    #[test]
    fn from_bytes_needs_the_whole_header() {
        assert_eq!(HeaderFields::from_bytes(&[0; 63]), None);
        let mut bytes = [0u8; 64];
        bytes[..8].copy_from_slice(&MAGIC.to_ne_bytes());
        assert_eq!(HeaderFields::from_bytes(&bytes).unwrap().magic, MAGIC);
    }
}

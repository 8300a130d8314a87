//! The envelope: one Zenoh sample carries one *batch* — what one poll of the exporter's cursor
//! accounted for — as fixed little-endian fields.
//!
//! ```text
//! batch header, 56 bytes
//!  offset size field
//!   0     4   magic        b"ORBB"
//!   4     1   format       1
//!   5     1   ring kind    the exported ring's kind (220: the event bus)
//!   6     2   origin       the exporting host's origin id (u16)
//!   8     8   session      the exporter run's random session id
//!  16     4   epoch        bumped each time the exported ring was reset (its counters restart)
//!  20     4   frames       number of frame records that follow
//!  24     8   first        the ring counter the batch starts at
//!  32     8   end          the counter just past it: end - first = frames + overwritten + unavailable
//!  40     8   overwritten  counters in [first, end) the exporter found overwritten
//!  48     8   unavailable  counters in [first, end) the exporter found unavailable
//! then `frames` records, 23 bytes + payload each, in counter order
//!   0     8   id           the frame's origin NetId64 (kind | node | low 40 counter bits)
//!   8     4   offset       its counter - first (strictly increasing, below end - first)
//!  12     8   version      its version / timestamp word
//!  20     1   frame kind   its frame kind byte
//!  21     2   length       payload bytes (at most PAYLOAD_MAX)
//!  23     n   payload
//! ```
//!
//! Counters in `[first, end)` that no record names are the exporter's loss, which the header
//! splits into overwritten and unavailable. A batch that does not start where the previous
//! batch of its stream (origin, session, ring kind, epoch) ended lost the counters in between
//! on the way — the network's loss.
//!
//! [`decode`] is total: any byte string gives a [`Batch`] or a [`DecodeError`], never a
//! panic, and it checks every count and length against the bytes actually there.

use core::fmt;

use orbit_rs::NetId64;
use orbit_rs::fleet::PAYLOAD_MAX;

/// The batch magic.
pub const MAGIC: [u8; 4] = *b"ORBB";
/// The envelope format this crate writes and reads.
pub const FORMAT: u8 = 1;
/// Bytes of the batch header.
pub const HEADER_LEN: usize = 56;
/// Bytes of a frame record before its payload.
pub const RECORD_LEN: usize = 23;

/// The header of a batch: which stream it belongs to and which counters it accounts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    /// The exported ring's kind.
    pub ring_kind: u8,
    /// The exporting host's origin id.
    pub origin: u16,
    /// The exporter run's session id.
    pub session: u64,
    /// Resets of the exported ring seen by this session.
    pub epoch: u32,
    /// The first counter accounted for.
    pub first: u64,
    /// The counter just past the last one accounted for.
    pub end: u64,
    /// Counters the exporter found overwritten.
    pub overwritten: u64,
    /// Counters the exporter found unavailable.
    pub unavailable: u64,
}

/// One frame of a batch, borrowed from the sample's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The frame's id on its origin host.
    pub id: NetId64,
    /// Its counter minus the batch's `first`.
    pub offset: u32,
    /// Its version / timestamp word.
    pub version: u64,
    /// Its frame kind byte.
    pub frame_kind: u8,
    /// Its payload.
    pub payload: &'a [u8],
}

/// A decoded batch: its header and its records, in counter order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch<'a> {
    /// The header.
    pub header: BatchHeader,
    /// The frame records.
    pub records: Vec<Record<'a>>,
}

/// Why bytes are not a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than a header (or than the records it announces) need.
    Short {
        /// Bytes needed at least.
        needed: usize,
        /// Bytes there.
        found: usize,
    },
    /// The magic is not [`MAGIC`].
    BadMagic,
    /// An envelope format this crate does not read.
    UnknownFormat {
        /// The format byte found.
        format: u8,
    },
    /// `end` is before `first`, or `end - first` is not frames + overwritten + unavailable.
    BadCounts {
        /// The header's first counter.
        first: u64,
        /// The header's end counter.
        end: u64,
    },
    /// A record's offset is not after the previous one, or not below `end - first`.
    BadOffset {
        /// The record's index in the batch.
        record: usize,
        /// Its offset.
        offset: u32,
    },
    /// A record's payload is longer than a fleet slot holds.
    PayloadTooLarge {
        /// The record's index in the batch.
        record: usize,
        /// Its length.
        len: usize,
    },
    /// Bytes left after the last record.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short { needed, found } => {
                write!(
                    f,
                    "batch cut short: {found} bytes, at least {needed} needed"
                )
            }
            Self::BadMagic => f.write_str("not an orbit-bridge batch (bad magic)"),
            Self::UnknownFormat { format } => write!(f, "unknown batch format {format}"),
            Self::BadCounts { first, end } => write!(
                f,
                "batch counters {first}..{end} do not match its frame and loss counts"
            ),
            Self::BadOffset { record, offset } => write!(
                f,
                "record {record} has offset {offset}, out of order or past the batch end"
            ),
            Self::PayloadTooLarge { record, len } => write!(
                f,
                "record {record} has a {len}-byte payload, over the {PAYLOAD_MAX}-byte slot"
            ),
            Self::TrailingBytes { count } => write!(f, "{count} bytes after the last record"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Builds one batch into a reusable buffer: [`start`](Self::start), [`push`](Self::push) each
/// frame, [`finish`](Self::finish) with the header.
#[derive(Debug, Default)]
pub struct BatchWriter {
    buf: Vec<u8>,
    /// Per record: where its offset field is, and its counter (offsets need `first`, which
    /// the exporter knows once the poll is over).
    counters: Vec<(usize, u64)>,
}

impl BatchWriter {
    /// Starts a batch, dropping any previous one (the buffer is kept).
    pub fn start(&mut self) {
        self.buf.clear();
        self.buf.resize(HEADER_LEN, 0);
        self.counters.clear();
    }

    /// Frames pushed since [`start`](Self::start).
    #[must_use]
    pub fn frames(&self) -> usize {
        self.counters.len()
    }

    /// Appends the frame of ring counter `counter`. Frames come in increasing counter order;
    /// a payload over [`PAYLOAD_MAX`] bytes (none of a fleet ring's is) is cut to it.
    pub fn push(
        &mut self,
        counter: u64,
        id: NetId64,
        version: u64,
        frame_kind: u8,
        payload: &[u8],
    ) {
        let len = payload.len().min(PAYLOAD_MAX);
        self.buf.extend_from_slice(&id.to_raw().to_le_bytes());
        self.counters.push((self.buf.len(), counter));
        self.buf.extend_from_slice(&[0; 4]); // The offset, written by finish().
        self.buf.extend_from_slice(&version.to_le_bytes());
        self.buf.push(frame_kind);
        // PAYLOAD_MAX < 2^16.
        self.buf.extend_from_slice(&(len as u16).to_le_bytes());
        self.buf.extend_from_slice(&payload[..len]);
    }

    /// Writes the header and every record's offset; returns the batch's bytes.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadCounts`] or [`DecodeError::BadOffset`] if the header does not account
    /// for exactly the pushed frames (a batch the importer would refuse is never sent).
    pub fn finish(&mut self, header: &BatchHeader) -> Result<&[u8], DecodeError> {
        let bad_counts = DecodeError::BadCounts {
            first: header.first,
            end: header.end,
        };
        let frames = u32::try_from(self.counters.len()).map_err(|_| bad_counts)?;
        check_counts(header, frames)?;
        let mut previous = None;
        for (record, &(at, counter)) in self.counters.iter().enumerate() {
            let offset = counter
                .checked_sub(header.first)
                .and_then(|o| u32::try_from(o).ok())
                .filter(|&o| previous.is_none_or(|p| o > p) && counter < header.end)
                .ok_or(DecodeError::BadOffset {
                    record,
                    offset: counter.wrapping_sub(header.first) as u32,
                })?;
            self.buf[at..at + 4].copy_from_slice(&offset.to_le_bytes());
            previous = Some(offset);
        }
        let h = &mut self.buf[..HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC);
        h[4] = FORMAT;
        h[5] = header.ring_kind;
        h[6..8].copy_from_slice(&header.origin.to_le_bytes());
        h[8..16].copy_from_slice(&header.session.to_le_bytes());
        h[16..20].copy_from_slice(&header.epoch.to_le_bytes());
        h[20..24].copy_from_slice(&frames.to_le_bytes());
        h[24..32].copy_from_slice(&header.first.to_le_bytes());
        h[32..40].copy_from_slice(&header.end.to_le_bytes());
        h[40..48].copy_from_slice(&header.overwritten.to_le_bytes());
        h[48..56].copy_from_slice(&header.unavailable.to_le_bytes());
        Ok(&self.buf)
    }
}

/// Checks `end - first == frames + overwritten + unavailable`, without overflow.
fn check_counts(header: &BatchHeader, frames: u32) -> Result<(), DecodeError> {
    let span = header.end.checked_sub(header.first);
    let accounted = header
        .overwritten
        .checked_add(header.unavailable)
        .and_then(|loss| loss.checked_add(u64::from(frames)));
    match (span, accounted) {
        (Some(span), Some(accounted)) if span == accounted => Ok(()),
        _ => Err(DecodeError::BadCounts {
            first: header.first,
            end: header.end,
        }),
    }
}

/// A little-endian reader over a byte slice that never reads past its end.
struct Bytes<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(DecodeError::Short {
            needed: self.at.saturating_add(n),
            found: self.bytes.len(),
        })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const K: usize>(&mut self) -> Result<[u8; K], DecodeError> {
        let mut out = [0; K];
        out.copy_from_slice(self.take(K)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_le_bytes)
    }
}

/// Decodes one batch. Total: every byte string gives a batch or an error.
///
/// # Errors
///
/// See [`DecodeError`]: short input, bad magic or format, counts that do not add up, record
/// offsets out of order or range, oversized payloads, trailing bytes.
pub fn decode(bytes: &[u8]) -> Result<Batch<'_>, DecodeError> {
    let mut r = Bytes { bytes, at: 0 };
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::Short {
            needed: HEADER_LEN,
            found: bytes.len(),
        });
    }
    if r.array::<4>()? != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let format = r.u8()?;
    if format != FORMAT {
        return Err(DecodeError::UnknownFormat { format });
    }
    let ring_kind = r.u8()?;
    let origin = r.u16()?;
    let session = r.u64()?;
    let epoch = r.u32()?;
    let frames = r.u32()?;
    let header = BatchHeader {
        ring_kind,
        origin,
        session,
        epoch,
        first: r.u64()?,
        end: r.u64()?,
        overwritten: r.u64()?,
        unavailable: r.u64()?,
    };
    check_counts(&header, frames)?;
    // Every record takes at least RECORD_LEN bytes: a count the bytes cannot hold is refused
    // before anything is allocated for it.
    let left = bytes.len() - HEADER_LEN;
    let frames = frames as usize;
    if frames > left / RECORD_LEN {
        return Err(DecodeError::Short {
            needed: HEADER_LEN.saturating_add(frames.saturating_mul(RECORD_LEN)),
            found: bytes.len(),
        });
    }
    let span = header.end - header.first; // check_counts: end >= first.
    let mut records = Vec::with_capacity(frames);
    let mut previous: Option<u32> = None;
    for record in 0..frames {
        let id = NetId64::from_raw(r.u64()?);
        let offset = r.u32()?;
        if previous.is_some_and(|p| offset <= p) || u64::from(offset) >= span {
            return Err(DecodeError::BadOffset { record, offset });
        }
        previous = Some(offset);
        let version = r.u64()?;
        let frame_kind = r.u8()?;
        let len = usize::from(r.u16()?);
        if len > PAYLOAD_MAX {
            return Err(DecodeError::PayloadTooLarge { record, len });
        }
        let payload = r.take(len)?;
        records.push(Record {
            id,
            offset,
            version,
            frame_kind,
            payload,
        });
    }
    if r.at != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            count: bytes.len() - r.at,
        });
    }
    Ok(Batch { header, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(first: u64, end: u64, overwritten: u64, unavailable: u64) -> BatchHeader {
        BatchHeader {
            ring_kind: 220,
            origin: 3,
            session: 0xDEAD_BEEF,
            epoch: 1,
            first,
            end,
            overwritten,
            unavailable,
        }
    }

    #[test]
    fn round_trip() {
        let mut w = BatchWriter::default();
        w.start();
        w.push(10, NetId64::from_raw(7), 99, 1, b"hello");
        w.push(12, NetId64::from_raw(8), 100, 2, b"");
        let bytes = w.finish(&header(10, 14, 1, 1)).unwrap().to_vec();
        let batch = decode(&bytes).unwrap();
        assert_eq!(batch.header, header(10, 14, 1, 1));
        assert_eq!(batch.records.len(), 2);
        assert_eq!(batch.records[0].payload, b"hello");
        assert_eq!(
            (batch.records[1].offset, batch.records[1].version),
            (2, 100)
        );
        assert_eq!(bytes.len(), HEADER_LEN + 2 * RECORD_LEN + 5);
    }

    #[test]
    fn writer_refuses_what_decode_would() {
        let mut w = BatchWriter::default();
        w.start();
        w.push(5, NetId64::from_raw(0), 0, 0, b"x");
        assert!(matches!(
            w.finish(&header(5, 7, 0, 0)),
            Err(DecodeError::BadCounts { .. })
        ));
        assert!(matches!(
            w.finish(&header(6, 7, 0, 0)),
            Err(DecodeError::BadOffset { .. })
        ));
    }

    #[test]
    fn rejections() {
        assert!(matches!(decode(&[]), Err(DecodeError::Short { .. })));
        let mut w = BatchWriter::default();
        w.start();
        w.push(0, NetId64::from_raw(0), 0, 0, b"abc");
        let good = w.finish(&header(0, 1, 0, 0)).unwrap().to_vec();
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad), Err(DecodeError::BadMagic));
        let mut bad = good.clone();
        bad[4] = 9;
        assert_eq!(decode(&bad), Err(DecodeError::UnknownFormat { format: 9 }));
        let mut bad = good.clone();
        bad.push(0);
        assert_eq!(decode(&bad), Err(DecodeError::TrailingBytes { count: 1 }));
        assert!(matches!(
            decode(&good[..good.len() - 1]),
            Err(DecodeError::Short { .. })
        ));
        let mut bad = good.clone();
        bad[20..24].copy_from_slice(&u32::MAX.to_le_bytes()); // frames: absurd count
        assert!(matches!(decode(&bad), Err(DecodeError::BadCounts { .. })));
    }
}

//! [`OrbitTyped`]: a Rust type names one ring of a fleet.

/// Selects one ring of a [`Fleet`](crate::Fleet) per type: its `KIND` byte names the ring
/// (and its shared-memory segment), `CAPACITY` is the ring's declared slot count.
///
/// Two types may share a `KIND` only if they declare the same spec; otherwise opening the
/// second is [`Error::SpecMismatch`](crate::Error::SpecMismatch) (in-process) or a segment
/// spec mismatch (shared memory).
pub trait OrbitTyped {
    /// The ring kind; also the top byte of every id the ring hands out.
    const KIND: u8;
    /// Slots in the ring (a power of two).
    const CAPACITY: usize = 256;
}

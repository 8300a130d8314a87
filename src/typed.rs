//! [`OrbitTyped`]: a Rust type names one ring of a fleet.

/// Selects one ring of a [`Fleet`](crate::Fleet) per type: its `KIND` byte names the ring
/// (and its shared-memory segment), `CAPACITY` is the ring's declared slot count.
///
/// Two types may share a `KIND` only if they declare the same spec; otherwise opening the
/// second is [`Error::SpecMismatch`](crate::Error::SpecMismatch) (in-process) or a segment
/// spec mismatch (shared memory).
///
/// # Examples
///
/// ```
/// use orbit_rs::bytemuck::{Pod, Zeroable};
/// use orbit_rs::{Fleet, OrbitTyped};
///
/// #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
/// #[bytemuck(crate = "orbit_rs::bytemuck")]
/// #[repr(C)]
/// struct Pressure {
///     kpa: f32,
/// }
/// impl OrbitTyped for Pressure {
///     const KIND: u8 = 21;
///     const CAPACITY: usize = 64;
///     const PAYLOAD: usize = size_of::<Self>();
/// }
///
/// let fleet = Fleet::join("doc-typed", 1)?;
/// let pressures = fleet.ring::<Pressure>()?;
/// assert_eq!((pressures.capacity(), pressures.payload()), (64, 32)); // the 64-byte slot class
/// let id = pressures.publish(&Pressure { kpa: 101.3 })?;
/// assert_eq!(id.kind(), Pressure::KIND);
/// # Ok::<(), orbit_rs::Error>(())
/// ```
pub trait OrbitTyped {
    /// The ring kind; also the top byte of every id the ring hands out.
    const KIND: u8;
    /// Slots in the ring (a power of two).
    const CAPACITY: usize = 256;
    /// Payload bytes a slot of the ring must hold. The fleet gives the ring the smallest slot
    /// class that holds it (see [`PAYLOAD_CLASSES`](crate::fleet::PAYLOAD_CLASSES): 32, 96,
    /// 224 or 480 bytes of payload, in 64-, 128-, 256- or 512-byte slots). A `Pod` value type
    /// sets `core::mem::size_of::<Self>()`; the default suits any frame up to 480 bytes.
    const PAYLOAD: usize = crate::fleet::PAYLOAD_MAX;
}

//! The `std` layer's [`Error`] and [`Result`] alias.

use std::fmt;
use std::string::String;

use crate::id::NodeId;
use crate::ring::{PublishError, SpecError};
use crate::shm::ShmError;

/// `Result` with the `std` layer's [`Error`].
///
/// # Examples
///
/// ```
/// use orbit_rs::{Fleet, NetId64};
///
/// fn announce(fleet_name: &str) -> orbit_rs::Result<NetId64> {
///     let bus = orbit_rs::OrbitEventBus::new(Fleet::join(fleet_name, 1)?.into())?;
///     bus.publish("hello", b"")
/// }
///
/// assert!(announce("doc-result").is_ok());
/// assert!(announce("no spaces allowed").is_err());
/// ```
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Errors of fleets, typed rings, `Orbital` and the event bus.
///
/// # Examples
///
/// ```
/// use orbit_rs::{Error, Fleet, OrbitTyped};
///
/// let err = Fleet::join_as("doc-error", 4, 9).unwrap_err();
/// assert!(matches!(err, Error::NodeOutsideFleet { size: 4, .. }));
/// assert_eq!(err.to_string(), "node 9 is outside the fleet of 4 nodes");
///
/// // Two types that claim one ring kind with different specs:
/// struct Small;
/// impl OrbitTyped for Small { const KIND: u8 = 30; const CAPACITY: usize = 16; }
/// struct Large;
/// impl OrbitTyped for Large { const KIND: u8 = 30; const CAPACITY: usize = 64; }
/// let fleet = Fleet::join("doc-error", 4)?;
/// fleet.ring::<Small>()?;
/// let err = fleet.ring::<Large>().unwrap_err();
/// assert!(matches!(err, Error::SpecMismatch { kind: 30, expected: 16, found: 64 }));
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An event's encoded frame exceeds the ring's payload capacity (as in the reference
    /// system).
    EventFrameTooLarge {
        /// Topic bytes.
        topic_len: usize,
        /// Payload bytes.
        payload_len: usize,
        /// Largest encoded frame a slot holds.
        max_payload: usize,
    },
    /// Publishing failed (see [`PublishError`]); transient failures were retried first.
    Publish(PublishError),
    /// The ring memory cannot form a ring.
    Spec(SpecError),
    /// A fleet of size 0.
    EmptyFleet,
    /// A node id outside `0..size`.
    NodeOutsideFleet {
        /// The node id.
        node: NodeId,
        /// The fleet size.
        size: u16,
    },
    /// The same ring kind was declared with two specs.
    SpecMismatch {
        /// The ring kind.
        kind: u8,
        /// Capacity of the ring as first declared.
        expected: usize,
        /// Capacity declared now.
        found: usize,
    },
    /// Per-node lanes of one kind opened by handles of one in-process fleet that joined with
    /// different fleet sizes (one lane per node). Over shared memory the segment refuses it
    /// ([`SpecMismatch`](crate::shm::ShmError::SpecMismatch) of
    /// [`Lanes`](crate::shm::SpecField::Lanes)).
    FleetSizeMismatch {
        /// The lanes' kind.
        kind: u8,
        /// Lanes (fleet size) as first opened.
        expected: usize,
        /// Lanes (fleet size) of this handle.
        found: usize,
    },
    /// The same ring kind was declared with two payload sizes of different slot classes.
    PayloadMismatch {
        /// The ring kind.
        kind: u8,
        /// Slot payload bytes of the ring as first opened.
        expected: usize,
        /// Slot payload bytes declared now.
        found: usize,
    },
    /// A value does not fit a slot (`Orbital`).
    ValueTooLarge {
        /// Value bytes.
        size: usize,
        /// Slot payload capacity.
        max: usize,
    },
    /// The memory of an in-process ring could not be allocated.
    OutOfMemory {
        /// The ring's slot count.
        capacity: usize,
        /// Bytes its slots need.
        bytes: usize,
    },
    /// Shared-memory segment trouble (names the segment).
    Shm(ShmError),
    /// Shared memory was asked for on a build or platform without it.
    ShmUnsupported,
    /// This handle only reads the fleet's rings: it joined a group's read policy
    /// ([`GroupAccess::Read`](crate::shm::GroupAccess::Read)) as a user that does not own the
    /// fleet. Publishing, leasing, resetting, unlinking and handing out a core
    /// [`Ring`](crate::Ring) (which could store) are refused; polling and reading work.
    ReadOnly {
        /// The fleet's name.
        fleet: String,
    },
    /// A readiness descriptor could not be created (`socketpair` failed: out of descriptors).
    Readiness(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EventFrameTooLarge {
                topic_len,
                payload_len,
                max_payload,
            } => write!(
                f,
                "event frame too large: {topic_len}-byte topic and {payload_len}-byte payload \
                 exceed the {max_payload}-byte slot"
            ),
            Self::Publish(e) => write!(f, "publish failed: {e}"),
            Self::Spec(e) => write!(f, "invalid ring: {e}"),
            Self::EmptyFleet => f.write_str("a fleet needs at least one node"),
            Self::NodeOutsideFleet { node, size } => {
                write!(f, "node {node} is outside the fleet of {size} nodes")
            }
            Self::SpecMismatch {
                kind,
                expected,
                found,
            } => write!(
                f,
                "ring kind {kind} is declared with capacity {expected} and again with {found}"
            ),
            Self::FleetSizeMismatch {
                kind,
                expected,
                found,
            } => write!(
                f,
                "the lanes of kind {kind} have {expected} nodes, but this handle joined a fleet \
                 of {found}: every handle of a fleet must join with the same size"
            ),
            Self::PayloadMismatch {
                kind,
                expected,
                found,
            } => write!(
                f,
                "ring kind {kind} has {expected}-byte slot payloads and is declared again with \
                 {found}"
            ),
            Self::ValueTooLarge { size, max } => {
                write!(f, "value of {size} bytes does not fit a {max}-byte slot")
            }
            Self::OutOfMemory { capacity, bytes } => write!(
                f,
                "cannot allocate {bytes} bytes for an in-process ring of {capacity} slots"
            ),
            Self::Shm(e) => fmt::Display::fmt(e, f),
            Self::ShmUnsupported => f.write_str(
                "shared-memory fleets need orbit-rs's `shm` feature on Linux \
                     (orbit-rs = { version = \"0.1\", features = [\"shm\"] })",
            ),
            Self::ReadOnly { fleet } => write!(
                f,
                "fleet {fleet} is shared with a group read-only and this process does not own \
                 it: it may poll and read, not publish, lease, reset or unlink"
            ),
            Self::Readiness(e) => write!(f, "cannot create a readiness descriptor: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Publish(e) => Some(e),
            Self::Spec(e) => Some(e),
            Self::Shm(e) => Some(e),
            Self::Readiness(e) => Some(e),
            _ => None,
        }
    }
}

impl From<PublishError> for Error {
    fn from(e: PublishError) -> Self {
        Self::Publish(e)
    }
}

impl From<SpecError> for Error {
    fn from(e: SpecError) -> Self {
        Self::Spec(e)
    }
}

impl From<ShmError> for Error {
    fn from(e: ShmError) -> Self {
        Self::Shm(e)
    }
}

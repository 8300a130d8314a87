//! Errors of creating and attaching shared-memory segments. Each names the segment.

use std::fmt;
use std::string::String;

use crate::ring::SpecError;

/// Which spec field of a segment header differs from what the attacher expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecField {
    /// The ring kind.
    Kind,
    /// The slot count.
    Capacity,
    /// The slot payload capacity in bytes.
    Payload,
    /// The slot stride in bytes.
    Stride,
}

/// A shared-memory segment could not be created, attached or validated.
#[derive(Debug)]
#[non_exhaustive]
pub enum ShmError {
    /// The fleet name cannot form a segment name.
    InvalidFleetName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A system call failed.
    Io {
        /// The segment.
        segment: String,
        /// The call (`shm_open`, `ftruncate`, `fstat`, `mmap`, `shm_unlink`).
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The segment belongs to another user: refused, left untouched.
    ForeignOwner {
        /// The segment.
        segment: String,
        /// Its owner's uid.
        owner: u32,
        /// This process's effective uid.
        euid: u32,
    },
    /// The segment grants permissions to group or others: refused, left untouched.
    InsecureMode {
        /// The segment.
        segment: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The requested ring shape is invalid (capacity zero, not a power of two, too large);
    /// nothing was opened.
    InvalidRing {
        /// The segment.
        segment: String,
        /// What is wrong with the shape.
        error: SpecError,
    },
    /// The object is smaller than its header says the ring needs (mapping it would fault).
    TooSmall {
        /// The segment.
        segment: String,
        /// The object's size (`fstat`).
        size: u64,
        /// Bytes the ring needs.
        needed: u64,
    },
    /// The creator never finished initialising the header within the wait.
    NotInitialized {
        /// The segment.
        segment: String,
        /// How long the attacher waited, in milliseconds.
        waited_ms: u64,
    },
    /// The header does not start with the orbit magic: not an orbit segment, or corrupt.
    BadMagic {
        /// The segment.
        segment: String,
        /// The value found.
        found: u64,
    },
    /// The header has another layout version (a segment left by an older or newer orbit-rs).
    LayoutVersion {
        /// The segment.
        segment: String,
        /// Version found.
        found: u64,
        /// Version this build writes.
        expected: u64,
    },
    /// The ring spec in the header differs from the one expected.
    SpecMismatch {
        /// The segment.
        segment: String,
        /// The field.
        field: SpecField,
        /// The attacher's value.
        expected: u64,
        /// The header's value.
        found: u64,
    },
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidFleetName { name, reason } => {
                write!(f, "invalid fleet name {name:?}: {reason}")
            }
            Self::Io {
                segment,
                op,
                source,
            } => write!(f, "{op} on segment {segment} failed: {source}"),
            Self::ForeignOwner {
                segment,
                owner,
                euid,
            } => write!(
                f,
                "segment {segment} is owned by uid {owner}, not by this process's uid {euid}; refusing it"
            ),
            Self::InsecureMode { segment, mode } => write!(
                f,
                "segment {segment} has mode {mode:04o}, which grants access to group or others; refusing it"
            ),
            Self::InvalidRing { segment, error } => write!(f, "segment {segment}: {error}"),
            Self::TooSmall {
                segment,
                size,
                needed,
            } => {
                write!(
                    f,
                    "segment {segment} is {size} bytes but its ring needs {needed}"
                )
            }
            Self::NotInitialized { segment, waited_ms } => write!(
                f,
                "segment {segment} was not initialised by its creator within {waited_ms} ms"
            ),
            Self::BadMagic { segment, found } => {
                write!(
                    f,
                    "segment {segment} has magic {found:#018x}, not an orbit ring"
                )
            }
            Self::LayoutVersion {
                segment,
                found,
                expected,
            } => write!(
                f,
                "segment {segment} has layout version {found}, this build needs {expected}; unlink it"
            ),
            Self::SpecMismatch {
                segment,
                field,
                expected,
                found,
            } => write!(
                f,
                "segment {segment} has {field:?} {found}, expected {expected}"
            ),
        }
    }
}

impl std::error::Error for ShmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::InvalidRing { error, .. } => Some(error),
            _ => None,
        }
    }
}

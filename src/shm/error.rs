//! Errors of creating and attaching shared-memory segments. Each names the segment.

use std::fmt;
use std::string::String;
use std::time::SystemTime;

use super::Sharing;
use crate::ring::SpecError;

/// Which spec field of a segment header differs from what the attacher expects.
///
/// # Examples
///
/// Attaching with another capacity than the creator's (feature `shm`):
///
/// ```
/// # #[cfg(all(feature = "shm", unix))] {
/// use orbit_rs::shm::{Segment, SegmentName, ShmError, SpecField, current_uid};
///
/// let fleet = format!("doc-spec-field-{}", std::process::id());
/// let name = SegmentName::new(&fleet, 7, current_uid())?;
/// let created = Segment::<64>::create(name.clone(), 7, 8)?;
///
/// let err = Segment::<64>::attach(name.clone(), 7, 16).unwrap_err();
/// assert!(matches!(
///     err,
///     ShmError::SpecMismatch { field: SpecField::Capacity, expected: 16, found: 8, .. }
/// ));
/// assert!(err.to_string().ends_with("has Capacity 8, expected 16"));
/// assert!(Segment::<64>::unlink(created.name())?);
/// # }
/// # Ok::<(), orbit_rs::shm::ShmError>(())
/// ```
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
    /// The number of rings (lanes) in the segment.
    Lanes,
}

/// A shared-memory segment could not be created, attached or validated.
///
/// Every variant names what it refused and why; the `std` layer wraps it as
/// [`Error::Shm`](crate::Error::Shm).
///
/// # Examples
///
/// ```
/// use orbit_rs::shm::ShmError;
/// use orbit_rs::{Error, Fleet};
///
/// let err = Fleet::join("plant/a", 4).unwrap_err();
/// assert!(matches!(err, Error::Shm(ShmError::InvalidFleetName { .. })));
/// assert_eq!(
///     err.to_string(),
///     "invalid fleet name \"plant/a\": only ASCII letters, digits, '_', '.' and '-' are allowed"
/// );
/// ```
///
/// A second live member with the same node id (feature `shm`, Linux):
///
/// ```
/// # #[cfg(all(feature = "shm", target_os = "linux"))] {
/// use orbit_rs::shm::ShmError;
/// use orbit_rs::{Error, Fleet};
///
/// let fleet = format!("doc-node-in-use-{}", std::process::id());
/// let first = Fleet::join_shm_as(&fleet, 4, 1)?;
/// let err = Fleet::join_shm_as(&fleet, 4, 1).unwrap_err();
/// assert!(matches!(err, Error::Shm(ShmError::NodeInUse { node: 1, .. })));
/// let own_pid = format!("held by live process {}", std::process::id());
/// assert!(err.to_string().contains(&own_pid));
/// drop(first); // the last member to leave removes the fleet's registry
/// # }
/// # Ok::<(), orbit_rs::Error>(())
/// ```
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
        /// The call (`open`, `open /dev/shm`, `open O_TMPFILE`, `fstatat`, `linkat`,
        /// `linkat /proc/self/fd`, `fallocate`, `ftruncate`, `fstat`, `mmap`, `shm_unlink`,
        /// `fchown`, `fchmod`, `getgroups`, `retire`).
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
    /// The segment's mode grants more than the sharing policy allows (owner-only: `0600` or
    /// narrower; a group: `0660` or `0640` or narrower; never an execute, set-id or sticky bit,
    /// nor anything for others): refused, left untouched.
    InsecureMode {
        /// The segment.
        segment: String,
        /// Its permission bits.
        mode: u32,
        /// The policy it was checked against; [`Sharing::mode`] is the most it allows.
        policy: Sharing,
    },
    /// A group-shared segment belongs to another group than the policy's: refused, left
    /// untouched.
    GroupMismatch {
        /// The segment.
        segment: String,
        /// Its group.
        gid: u32,
        /// The policy's group.
        expected: u32,
    },
    /// This process is not a member of the group a sharing policy names (neither its effective
    /// gid nor a supplementary group), so it may neither create the group's objects nor use
    /// them. Nothing was opened.
    NotInGroup {
        /// The policy's group.
        gid: u32,
    },
    /// The requested ring shape is invalid (capacity zero, not a power of two, too large);
    /// nothing was opened.
    InvalidRing {
        /// The segment.
        segment: String,
        /// What is wrong with the shape.
        error: SpecError,
    },
    /// The requested number of lanes is zero or more than a segment holds; nothing was
    /// opened.
    InvalidLanes {
        /// The segment.
        segment: String,
        /// The lanes requested.
        lanes: u64,
        /// The most a segment holds.
        max: u64,
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
        /// The orbit magic, `ORBITRNG` as a little-endian word.
        expected: u64,
    },
    /// The name is not a regular file (a symlink, FIFO, directory, socket or device): refused,
    /// left untouched. Symlinks are never followed.
    NotRegularFile {
        /// The segment.
        segment: String,
        /// What sits at the name: `"symlink"`, `"fifo"`, `"directory"`, `"socket"`,
        /// `"character device"`, `"block device"`.
        kind: &'static str,
    },
    /// The object has more than one name (a hard link to or from another file, perhaps another
    /// fleet's live segment): refused, left untouched.
    HardLinked {
        /// The segment.
        segment: String,
        /// Its link count.
        links: u64,
    },
    /// The object lives on another device than the shared-memory directory (something is
    /// mounted over the name): refused, left untouched.
    OtherDevice {
        /// The segment.
        segment: String,
        /// The object's device.
        device: u64,
        /// The shared-memory directory's device.
        expected: u64,
    },
    /// `open` found the name taken when creating and gone when attaching, every round:
    /// something keeps removing it.
    KeepsDisappearing {
        /// The segment.
        segment: String,
        /// Create-then-attach rounds made.
        rounds: u32,
    },
    /// The shared-memory filesystem cannot hold the ring (`ENOSPC` or `EFBIG` while reserving
    /// it at creation); the half-created object was unlinked.
    NoSpace {
        /// The segment.
        segment: String,
        /// Bytes the segment needs.
        bytes: u64,
        /// Bytes free on the filesystem when creation failed, if known.
        free: Option<u64>,
        /// The OS error.
        source: std::io::Error,
    },
    /// The segment is larger than this process may write files (the soft `RLIMIT_FSIZE`,
    /// `ulimit -f`); creating it would raise SIGXFSZ and kill the process. Nothing was created.
    FileSizeLimit {
        /// The segment.
        segment: String,
        /// Bytes the segment needs.
        bytes: u64,
        /// The soft file-size limit in bytes.
        limit: u64,
    },
    /// The system cannot create a segment without exposing it under its name before it is
    /// initialised (Linux: no `O_TMPFILE` in the shared-memory directory, or no way to link
    /// the new object). Nothing was created; there is no fallback to the unsafe way.
    CreateUnsupported {
        /// The segment.
        segment: String,
        /// What is missing.
        cause: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A shared-memory object name is not `/` followed by one path component.
    InvalidObjectName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
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
    /// A live member of the fleet already holds this node id (the kernel holds its lock in the
    /// fleet registry); a dead member's node id is free.
    NodeInUse {
        /// The node id.
        node: u16,
        /// The holder's pid as it recorded it (in its own pid namespace), if its registry entry
        /// is readable and its tag is live.
        pid: Option<u32>,
        /// When the holder joined, under the same condition.
        since: Option<SystemTime>,
    },
    /// The fleet registry file is neither empty nor the registry's size: not an orbit registry,
    /// or one of another layout. Refused, left untouched.
    RegistrySize {
        /// The file's size (`fstat`).
        size: u64,
        /// The registry's size, `REGISTRY_BYTES` (2 MiB).
        expected: u64,
    },
    /// Every tag drawn while joining was held by a live member.
    NoFreeTag {
        /// Tags drawn.
        draws: u32,
    },
    /// A system call on the fleet registry failed.
    RegistryIo {
        /// The call (`fstat`, `ftruncate`, `fcntl F_OFD_SETLK (node)`,
        /// `fcntl F_OFD_SETLK (tag)`, `pwrite`).
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
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
            Self::InsecureMode {
                segment,
                mode,
                policy,
            } => write!(
                f,
                "segment {segment} has mode {mode:04o}, which grants more than the sharing \
                 policy allows ({policy}: {:04o} or narrower); refusing it",
                policy.mode()
            ),
            Self::GroupMismatch {
                segment,
                gid,
                expected,
            } => write!(
                f,
                "segment {segment} belongs to group {gid}, not to the sharing policy's group \
                 {expected}; refusing it"
            ),
            Self::NotInGroup { gid } => write!(
                f,
                "this process is not a member of group {gid} (neither its effective gid nor a \
                 supplementary group); it cannot share a fleet with that group"
            ),
            Self::InvalidRing { segment, error } => write!(f, "segment {segment}: {error}"),
            Self::InvalidLanes {
                segment,
                lanes,
                max,
            } => write!(
                f,
                "segment {segment}: {lanes} lanes requested; a segment holds 1 to {max}"
            ),
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
            Self::BadMagic {
                segment,
                found,
                expected,
            } => {
                write!(
                    f,
                    "segment {segment} has magic {found:#018x} ({}), expected {expected:#018x} ({}): \
                     not an orbit ring",
                    MagicText(*found),
                    MagicText(*expected)
                )?;
                if *found == 0 {
                    // On Linux a segment appears under its name only after its magic is
                    // published, so a zero magic was never written by this crate's creator.
                    f.write_str(
                        " (never initialised: left by another program, or by an older \
                         orbit-rs creator that died; unlink it)",
                    )?;
                }
                Ok(())
            }
            Self::NotRegularFile { segment, kind } => write!(
                f,
                "segment {segment} is a {kind}, not a regular file; refusing it"
            ),
            Self::HardLinked { segment, links } => write!(
                f,
                "segment {segment} has {links} links (hard-linked to another file); refusing it"
            ),
            Self::OtherDevice {
                segment,
                device,
                expected,
            } => write!(
                f,
                "segment {segment} is on device {device:#x}, not on the shared-memory \
                 directory's device {expected:#x} (something is mounted over it); refusing it"
            ),
            Self::KeepsDisappearing { segment, rounds } => write!(
                f,
                "segment {segment} keeps disappearing: it existed when creating and was gone \
                 when attaching, {rounds} times in a row; giving up"
            ),
            Self::NoSpace {
                segment,
                bytes,
                free,
                source,
            } => {
                write!(f, "segment {segment} needs {bytes} bytes")?;
                if let Some(free) = free {
                    write!(f, " but the shared-memory filesystem has {free} free")?;
                }
                write!(
                    f,
                    " ({source}); it was not created (enlarge /dev/shm or shrink the ring)"
                )
            }
            Self::FileSizeLimit {
                segment,
                bytes,
                limit,
            } => write!(
                f,
                "segment {segment} needs {bytes} bytes but this process may not write files \
                 larger than {limit} bytes (ulimit -f); it was not created"
            ),
            Self::CreateUnsupported {
                segment,
                cause,
                source,
            } => write!(
                f,
                "segment {segment} cannot be created without exposing it uninitialised: \
                 {cause} ({source}); it was not created"
            ),
            Self::InvalidObjectName { name, reason } => {
                write!(f, "invalid shared-memory object name {name:?}: {reason}")
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
            Self::NodeInUse { node, pid, since } => {
                write!(f, "node {node} of this fleet is held by ")?;
                match pid {
                    Some(pid) => write!(f, "live process {pid}")?,
                    None => {
                        f.write_str("a live member whose registry entry is not readable yet")?
                    }
                }
                match since.map(|s| s.elapsed()) {
                    Some(Ok(ago)) => write!(f, " (joined {} s ago)", ago.as_secs()),
                    Some(Err(_)) => f.write_str(" (joined at a time ahead of this clock)"),
                    None => Ok(()),
                }
            }
            Self::RegistrySize { size, expected } => write!(
                f,
                "the fleet registry is {size} bytes, expected 0 or {expected}: not an orbit \
                 registry of this layout; refusing it"
            ),
            Self::NoFreeTag { draws } => write!(
                f,
                "all {draws} member tags drawn are held by live members of this fleet; giving up"
            ),
            Self::RegistryIo { op, source } => {
                write!(f, "{op} on the fleet registry failed: {source}")?;
                if source.kind() == std::io::ErrorKind::StorageFull {
                    f.write_str(" (the shared-memory filesystem is full: enlarge /dev/shm)")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ShmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. }
            | Self::NoSpace { source, .. }
            | Self::RegistryIo { source, .. }
            | Self::CreateUnsupported { source, .. } => Some(source),
            Self::InvalidRing { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A magic word as text: its eight bytes in the order `MAGIC` spells them (`"ORBITRNG"`), or
/// "not text" if any is not printable ASCII.
struct MagicText(u64);

impl fmt::Display for MagicText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0.to_le_bytes();
        if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            f.write_str("\"")?;
            for b in bytes {
                fmt::Write::write_char(f, char::from(b))?;
            }
            f.write_str("\"")
        } else {
            f.write_str("not text")
        }
    }
}

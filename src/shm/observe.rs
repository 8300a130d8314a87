//! Seeing a fleet without joining it: a read-only observer of its shared-memory objects.
//!
//! An [`Observer`] finds a fleet's objects in `/dev/shm` by name ([`ObjectName`]), attaches
//! each ring segment the way [`Segment::attach`] does — the same entry checks (a regular
//! single-link file on the shm device that the [`Sharing`] policy allows, never following a
//! symlink), the same header validation, the object's real size checked before mapping — but
//! opens it `O_RDONLY` and maps it `PROT_READ`. It never creates, locks, resets, writes,
//! truncates or unlinks anything: liveness (of members, of a lease holder, of who is attached
//! to a segment) is asked of the kernel with `F_OFD_GETLK`, a query that sets no lock, and the
//! registry is read with `pread`. A missing fleet or ring is a `NotFound` [`ShmError::Io`];
//! nothing is created in its place.
//!
//! [`survey`] lists every fleet of this user (names ending in its uid) and every group fleet
//! (`-g{gid}`) in `/dev/shm`, with each ring's spec, head, generation, writer lease and
//! members. An entry that cannot be observed — a symlink or other foreign object, an insecure
//! mode, a header attach refuses ("bricked": every join of that ring fails until the name is
//! removed) — is reported per entry ([`EntryProblem`]), never fatal to the listing.
//!
//! Rings are observed in the fleet payload classes (`PAYLOAD_CLASSES`: 32, 96, 224, 480
//! bytes); a segment of another payload (a bare [`Segment`] of another size) is reported, not
//! mapped.
//!
//! # Where it is supported
//!
//! Linux (the `shm` feature), on targets with native 64-bit atomic loads (x86_64, aarch64,
//! riscv64, ...). Everything an observer does to a mapping is a relaxed 64-bit load, with an
//! acquire fence where it needs ordering: Rust documents such loads as allowed on read-only
//! memory. On a 32-bit target whose 64-bit atomic load is a compare-exchange (a store), a load
//! from a `PROT_READ` mapping would fault; fleets over shared memory are not built for such
//! targets.
//!
//! # Examples
//!
//! ```
//! # #[cfg(all(feature = "shm", target_os = "linux"))] {
//! use orbit_rs::shm::Observer;
//! use orbit_rs::{Fleet, OrbitTyped};
//!
//! struct Tick;
//! impl OrbitTyped for Tick { const KIND: u8 = 9; const PAYLOAD: usize = 8; }
//!
//! let name = format!("doc-observe-{}", std::process::id());
//! let fleet = Fleet::join_shm_as(&name, 4, 1)?;
//! fleet.ring::<Tick>()?.publish_frame(0, 0, b"hi")?;
//!
//! let observer = Observer::new(&name)?;
//! let info = observer.info()?;
//! assert_eq!(info.members.len(), 1);
//! assert_eq!((info.rings[0].kind, info.rings[0].lanes[0].head), (9, 1));
//! let ring = observer.ring(9)?;
//! let mut payloads = Vec::new();
//! ring.poll(&mut orbit_rs::Cursor::from_start(), |f| payloads.push(f.payload.to_vec()));
//! assert_eq!(payloads, [b"hi".to_vec()]);
//! assert!(observer.ring(10).is_err()); // not found: nothing created
//! fleet.unlink()?;
//! fleet.remove_names()?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::string::{String, ToString};
use std::vec::Vec;

use super::header::{HeaderFields, MAGIC};
use super::{
    GroupAccess, Layout, MemberInfo, Segment, SegmentName, Sharing, ShmError, SpecField,
    check_fleet_name, current_uid, members, object, tag_alive,
};
use crate::ring::{Cursor, FrameRef, LeaseToken, Poll, Ring};

/// The directory the observer lists.
const SHM_DIR: &str = "/dev/shm";

/// Prefix of every orbit object's directory entry.
const ENTRY_PREFIX: &str = "orbit-";

/// The payload classes an observer maps (those of fleet rings).
const CLASSES: [usize; 4] = [32, 96, 224, 480];
const _: () = {
    let fleet = crate::fleet::PAYLOAD_CLASSES;
    assert!(fleet.len() == CLASSES.len());
    assert!(fleet[0] == CLASSES[0] && fleet[1] == CLASSES[1]);
    assert!(fleet[2] == CLASSES[2] && fleet[3] == CLASSES[3]);
};

/// Whose names an object carries: the last component of its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NameScope {
    /// An owner-only fleet of this uid (`-{uid}`).
    User(u32),
    /// A group fleet (`-g{gid}`).
    Group(u32),
}

/// What an orbit object is, from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectRole {
    /// A ring segment of this kind (`-{kind}-`).
    Ring(u8),
    /// A segment of per-node lanes of this kind (`-lanes{kind}-`).
    Lanes(u8),
    /// The member registry (`-members-`).
    Members,
}

/// An orbit object name taken apart (from the right, as [`SegmentName`] builds them).
///
/// # Examples
///
/// ```
/// use orbit_rs::shm::{NameScope, ObjectName, ObjectRole};
///
/// let name = ObjectName::parse("/orbit-plant-a-lanes7-1000").unwrap();
/// assert_eq!(name.fleet, "plant-a");
/// assert_eq!((name.role, name.scope), (ObjectRole::Lanes(7), NameScope::User(1000)));
/// assert_eq!(name.segment_name()?.as_str(), "/orbit-plant-a-lanes7-1000");
/// assert!(ObjectName::parse("/orbit-x-999-1000").is_none()); // a kind is a u8
/// # Ok::<(), orbit_rs::shm::ShmError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectName {
    /// The fleet.
    pub fleet: String,
    /// Which of its objects.
    pub role: ObjectRole,
    /// Whose.
    pub scope: NameScope,
}

impl ObjectName {
    /// Parses `/orbit-{fleet}-{role}-{scope}` (the leading `/` optional); `None` for anything
    /// [`SegmentName`] never builds.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix('/').unwrap_or(name);
        let rest = rest.strip_prefix(ENTRY_PREFIX)?;
        let (rest, scope) = rest.rsplit_once('-')?;
        let scope = match scope.strip_prefix('g') {
            Some(gid) => NameScope::Group(digits(gid)?),
            None => NameScope::User(digits(scope)?),
        };
        let (fleet, role) = rest.rsplit_once('-')?;
        let role = if role == "members" {
            ObjectRole::Members
        } else if let Some(kind) = role.strip_prefix("lanes") {
            ObjectRole::Lanes(digits(kind)?)
        } else {
            ObjectRole::Ring(digits(role)?)
        };
        check_fleet_name(fleet).ok()?;
        let parsed = Self {
            fleet: fleet.to_string(),
            role,
            scope,
        };
        // Only the canonical spelling (no leading zeros, no `+`): the name rebuilds exactly.
        let rebuilt = parsed.segment_name().ok()?;
        (rebuilt.as_str().trim_start_matches('/') == name.trim_start_matches('/')).then_some(parsed)
    }

    /// The object's [`SegmentName`].
    ///
    /// # Errors
    ///
    /// [`ShmError::InvalidFleetName`] for a fleet name [`check_fleet_name`] refuses.
    pub fn segment_name(&self) -> Result<SegmentName, ShmError> {
        let (sharing, uid) = self.sharing(GroupAccess::Read);
        match self.role {
            ObjectRole::Ring(kind) => SegmentName::shared(&self.fleet, kind, sharing, uid),
            ObjectRole::Lanes(kind) => SegmentName::lanes_shared(&self.fleet, kind, sharing, uid),
            ObjectRole::Members => SegmentName::members_shared(&self.fleet, sharing, uid),
        }
    }

    /// The sharing policy the name belongs to (with `access` for a group) and the uid its
    /// name is built with.
    fn sharing(&self, access: GroupAccess) -> (Sharing, u32) {
        match self.scope {
            NameScope::User(uid) => (Sharing::Owner, uid),
            NameScope::Group(gid) => (Sharing::Group { gid, access }, 0),
        }
    }
}

/// A decimal number without sign or leading zero.
fn digits<T: core::str::FromStr>(text: &str) -> Option<T> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// Why an entry of `/dev/shm` could not be observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// Not an object a fleet of this user could have made: a symlink, directory, FIFO or
    /// device, a hard link, another device, another owner or group. Joins refuse it.
    Foreign,
    /// A mode that grants more than the fleet's policy. Joins refuse it.
    Insecure,
    /// A header attach refuses (no magic, another layout version, too small, a bad spec):
    /// every join of that ring fails until the name is removed.
    Bricked,
    /// A name under `orbit-` that no fleet builds.
    UnknownName,
    /// Anything else (an I/O error, a payload outside the fleet classes).
    Unreadable,
}

impl ProblemKind {
    /// One lowercase word: `foreign`, `insecure`, `bricked`, `unknown-name`, `unreadable`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Foreign => "foreign",
            Self::Insecure => "insecure",
            Self::Bricked => "bricked",
            Self::UnknownName => "unknown-name",
            Self::Unreadable => "unreadable",
        }
    }

    fn of(error: &ShmError) -> Self {
        match error {
            ShmError::NotRegularFile { .. }
            | ShmError::HardLinked { .. }
            | ShmError::OtherDevice { .. }
            | ShmError::ForeignOwner { .. }
            | ShmError::GroupMismatch { .. }
            | ShmError::NotInGroup { .. } => Self::Foreign,
            ShmError::InsecureMode { .. } => Self::Insecure,
            ShmError::BadMagic { .. }
            | ShmError::LayoutVersion { .. }
            | ShmError::TooSmall { .. }
            | ShmError::InvalidRing { .. }
            | ShmError::InvalidLanes { .. }
            | ShmError::NotInitialized { .. }
            | ShmError::RegistrySize { .. } => Self::Bricked,
            ShmError::SpecMismatch {
                field: SpecField::Payload,
                ..
            } => Self::Unreadable,
            ShmError::SpecMismatch { .. } => Self::Bricked,
            _ => Self::Unreadable,
        }
    }
}

/// One entry of `/dev/shm` that could not be observed, and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct EntryProblem {
    /// The object name (`/orbit-...`).
    pub name: String,
    /// What kind of trouble.
    pub kind: ProblemKind,
    /// The refusal, naming the object.
    pub error: ShmError,
}

/// Who holds a ring's writer lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseInfo {
    /// The lease word.
    pub token: LeaseToken,
    /// Whether the holder's process lives (the kernel holds its tag's lock on the segment);
    /// `None` if the query failed.
    pub alive: Option<bool>,
    /// The holder's node id, if a member of the registry has its tag.
    pub node: Option<u16>,
}

/// One lane of a segment: a fleet ring's only lane, or one node's lane of per-node lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LaneInfo {
    /// Frames claimed in the current generation ([`Ring::head`]).
    pub head: u64,
    /// Resets so far ([`Ring::generation`]).
    pub generation: u64,
    /// The writer lease, if held.
    pub lease: Option<LeaseInfo>,
}

/// A ring segment as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingInfo {
    /// The segment's name.
    pub name: SegmentName,
    /// The ring kind.
    pub kind: u8,
    /// True for a segment of per-node lanes, false for a fleet ring.
    pub per_node: bool,
    /// The spec (kind, capacity, payload, stride, lanes).
    pub layout: Layout,
    /// The object's size in bytes.
    pub bytes: u64,
    /// True if the segment is retired (its fleet was unlinked) but still under its name.
    pub retired: bool,
    /// Each lane's head, generation and lease (one for a fleet ring).
    pub lanes: Vec<LaneInfo>,
    /// Node ids of the registry's live members that hold this segment (attached to it).
    pub attached: Vec<u16>,
}

/// A fleet as observed.
#[derive(Debug)]
#[non_exhaustive]
pub struct FleetInfo {
    /// The fleet's name.
    pub name: String,
    /// Whose names it has.
    pub scope: NameScope,
    /// The registry's name, if it has one.
    pub registry: Option<SegmentName>,
    /// Its members, alive or dead (empty without a registry).
    pub members: Vec<MemberInfo>,
    /// Its ring segments, by name.
    pub rings: Vec<RingInfo>,
    /// Its objects that could not be observed.
    pub problems: Vec<EntryProblem>,
}

impl FleetInfo {
    /// True if a live member holds the fleet.
    #[must_use]
    pub fn running(&self) -> bool {
        self.members.iter().any(|m| m.alive)
    }

    /// Every name of the fleet found: rings, registry, and those that could not be observed.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.rings.iter().map(|r| r.name.to_string()).collect();
        names.extend(self.registry.iter().map(ToString::to_string));
        names.extend(self.problems.iter().map(|p| p.name.clone()));
        names.sort();
        names
    }
}

/// Everything in `/dev/shm` a fleet of this user owns or could own.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Survey {
    /// Fleets of this user and group fleets, by scope and name.
    pub fleets: Vec<FleetInfo>,
    /// Entries under `orbit-` that no fleet name builds (they belong to no fleet).
    pub problems: Vec<EntryProblem>,
    /// Entries of other users' owner-only fleets, not looked at.
    pub other_users: usize,
}

/// Lists every fleet of this user and every group fleet in `/dev/shm` (see the module docs):
/// each fleet's objects observed, without writing anything.
///
/// # Errors
///
/// An [`ShmError::Io`] if `/dev/shm` cannot be listed. Trouble with one entry is reported in
/// the survey instead.
pub fn survey() -> Result<Survey, ShmError> {
    let uid = current_uid();
    let mut survey = Survey::default();
    let mut names: Vec<ObjectName> = Vec::new();
    for entry in list()? {
        match ObjectName::parse(&entry) {
            Some(name) if name.scope == NameScope::User(uid) => names.push(name),
            Some(name) if matches!(name.scope, NameScope::Group(_)) => names.push(name),
            Some(_) => survey.other_users += 1,
            None => survey.problems.push(EntryProblem {
                name: std::format!("/{entry}"),
                kind: ProblemKind::UnknownName,
                error: ShmError::InvalidObjectName {
                    name: std::format!("/{entry}"),
                    reason: "no fleet builds this name",
                },
            }),
        }
    }
    names.sort();
    let mut start = 0;
    while start < names.len() {
        let same = |n: &ObjectName| n.fleet == names[start].fleet && n.scope == names[start].scope;
        let end = start + names[start..].iter().take_while(|n| same(n)).count();
        survey.fleets.push(observe_fleet(&names[start..end]));
        start = end;
    }
    Ok(survey)
}

/// The entries of `/dev/shm` that start with `orbit-`, sorted.
fn list() -> Result<Vec<String>, ShmError> {
    let err = |source: io::Error| ShmError::Io {
        segment: SHM_DIR.to_string(),
        op: "read_dir",
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(SHM_DIR).map_err(err)? {
        let entry = entry.map_err(err)?;
        if let Some(name) = entry.file_name().to_str()
            && name.starts_with(ENTRY_PREFIX)
        {
            entries.push(name.to_string());
        }
    }
    entries.sort();
    Ok(entries)
}

/// The sharing policy that the object `name` must satisfy, read off its entry (a group's
/// access from the group write bit); owner-only for a user scope.
fn sharing_of(name: &ObjectName, segment: &SegmentName) -> Sharing {
    let access = match std::fs::symlink_metadata(std::format!("{SHM_DIR}{segment}")) {
        Ok(meta) if meta.mode() & 0o020 != 0 => GroupAccess::ReadWrite,
        _ => GroupAccess::Read,
    };
    name.sharing(access).0
}

/// Observes the objects `names` of one fleet (same fleet, same scope, sorted).
fn observe_fleet(names: &[ObjectName]) -> FleetInfo {
    let first = &names[0];
    let mut info = FleetInfo {
        name: first.fleet.clone(),
        scope: first.scope,
        registry: None,
        members: Vec::new(),
        rings: Vec::new(),
        problems: Vec::new(),
    };
    let problem = |name: &SegmentName, error: ShmError| EntryProblem {
        name: name.to_string(),
        kind: ProblemKind::of(&error),
        error,
    };
    // The registry first: rings name their lease holders and attached members from it.
    for name in names.iter().filter(|n| n.role == ObjectRole::Members) {
        let Ok(segment) = name.segment_name() else {
            continue;
        };
        match read_members(&segment, sharing_of(name, &segment)) {
            Ok(found) => {
                info.members = found;
                info.registry = Some(segment);
            }
            Err(error) if is_not_found(&error) => {}
            Err(error) => info.problems.push(problem(&segment, error)),
        }
    }
    for name in names.iter().filter(|n| n.role != ObjectRole::Members) {
        let Ok(segment) = name.segment_name() else {
            continue;
        };
        match ObservedRing::attach(name, segment.clone()) {
            Ok(ring) => info.rings.push(ring.info(&info.members)),
            Err(error) if is_not_found(&error) => {}
            Err(error) => info.problems.push(problem(&segment, error)),
        }
    }
    info
}

/// True for a `NotFound` I/O error: the object went away while being looked at.
fn is_not_found(error: &ShmError) -> bool {
    matches!(error, ShmError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

/// The registry `segment`'s members, read with `pread` through an `O_RDONLY` descriptor.
fn read_members(segment: &SegmentName, sharing: Sharing) -> Result<Vec<MemberInfo>, ShmError> {
    let file = object::attach(segment.as_str(), sharing, false)?;
    members(&file).map_err(|source| {
        if source.kind() == io::ErrorKind::InvalidData {
            ShmError::RegistrySize {
                size: file.metadata().map_or(0, |m| m.len()),
                expected: super::registry::REGISTRY_BYTES,
            }
        } else {
            ShmError::Io {
                segment: segment.to_string(),
                op: "pread (registry)",
                source,
            }
        }
    })
}

/// A read-only view of one fleet: its objects found by name, observed on request.
#[derive(Clone, Debug)]
pub struct Observer {
    fleet: String,
    scope: NameScope,
}

impl Observer {
    /// An observer of this user's owner-only fleet `fleet`. Looks at nothing yet.
    ///
    /// # Errors
    ///
    /// [`ShmError::InvalidFleetName`] for a name no fleet can have.
    pub fn new(fleet: &str) -> Result<Self, ShmError> {
        Self::with_scope(fleet, NameScope::User(current_uid()))
    }

    /// An observer of fleet `fleet` of `scope` (another user's fleet, say, or a group's).
    ///
    /// # Errors
    ///
    /// [`ShmError::InvalidFleetName`] for a name no fleet can have.
    pub fn with_scope(fleet: &str, scope: NameScope) -> Result<Self, ShmError> {
        check_fleet_name(fleet)?;
        Ok(Self {
            fleet: fleet.to_string(),
            scope,
        })
    }

    /// The fleet's name.
    #[must_use]
    pub fn fleet(&self) -> &str {
        &self.fleet
    }

    fn names(&self) -> Result<Vec<ObjectName>, ShmError> {
        let mut names: Vec<ObjectName> = list()?
            .iter()
            .filter_map(|entry| ObjectName::parse(entry))
            .filter(|n| n.fleet == self.fleet && n.scope == self.scope)
            .collect();
        names.sort();
        Ok(names)
    }

    fn not_found(&self, what: String) -> ShmError {
        ShmError::Io {
            segment: what,
            op: "open",
            source: io::Error::new(
                io::ErrorKind::NotFound,
                std::format!("fleet {} has no such object", self.fleet),
            ),
        }
    }

    /// The fleet's rings, registry and members as they are now.
    ///
    /// # Errors
    ///
    /// A `NotFound` [`ShmError::Io`] if the fleet has no object at all; an [`ShmError::Io`]
    /// if `/dev/shm` cannot be listed.
    pub fn info(&self) -> Result<FleetInfo, ShmError> {
        let names = self.names()?;
        if names.is_empty() {
            let scope = match self.scope {
                NameScope::User(uid) => std::format!("{uid}"),
                NameScope::Group(gid) => std::format!("g{gid}"),
            };
            return Err(self.not_found(std::format!("/orbit-{}-*-{scope}", self.fleet)));
        }
        Ok(observe_fleet(&names))
    }

    /// The fleet's members, alive or dead (none if it has no registry).
    ///
    /// # Errors
    ///
    /// The registry's refusal ([`ShmError`]) if it cannot be read.
    pub fn members(&self) -> Result<Vec<MemberInfo>, ShmError> {
        let name = ObjectName {
            fleet: self.fleet.clone(),
            role: ObjectRole::Members,
            scope: self.scope,
        };
        let segment = name.segment_name()?;
        match read_members(&segment, sharing_of(&name, &segment)) {
            Err(error) if is_not_found(&error) => Ok(Vec::new()),
            other => other,
        }
    }

    /// The fleet ring of kind `kind`, attached read-only.
    ///
    /// # Errors
    ///
    /// A `NotFound` [`ShmError::Io`] if the fleet has no such ring (nothing is created);
    /// otherwise whatever [`Segment::attach`] would refuse.
    pub fn ring(&self, kind: u8) -> Result<ObservedRing, ShmError> {
        let name = ObjectName {
            fleet: self.fleet.clone(),
            role: ObjectRole::Ring(kind),
            scope: self.scope,
        };
        let segment = name.segment_name()?;
        ObservedRing::attach(&name, segment.clone()).map_err(|error| {
            if is_not_found(&error) {
                self.not_found(segment.to_string())
            } else {
                error
            }
        })
    }
}

/// A segment mapped read-only, in its payload class.
enum Mapped {
    C32(Segment<32>),
    C96(Segment<96>),
    C224(Segment<224>),
    C480(Segment<480>),
}

/// Runs `$body` with `$segment` bound to the `Segment<N>` of any class.
macro_rules! with_mapped {
    ($mapped:expr, $segment:ident => $body:expr) => {
        match $mapped {
            Mapped::C32($segment) => $body,
            Mapped::C96($segment) => $body,
            Mapped::C224($segment) => $body,
            Mapped::C480($segment) => $body,
        }
    };
}

/// One ring segment of a fleet, mapped `PROT_READ`: its spec and state, and polls of its
/// frames. Only loads ever touch the mapping (see the module docs).
pub struct ObservedRing {
    mapped: Mapped,
    per_node: bool,
}

impl core::fmt::Debug for ObservedRing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ObservedRing")
            .field("name", self.name())
            .field("layout", &self.layout())
            .finish()
    }
}

impl ObservedRing {
    /// Attaches the segment `segment` (of `name`) read-only: reads the header's spec through
    /// an `O_RDONLY` descriptor (`pread`), then attaches exactly as `Segment::attach` does
    /// with that spec, `O_RDONLY` and `PROT_READ`.
    fn attach(name: &ObjectName, segment: SegmentName) -> Result<Self, ShmError> {
        let (kind, per_node) = match name.role {
            ObjectRole::Ring(kind) => (kind, false),
            ObjectRole::Lanes(kind) => (kind, true),
            ObjectRole::Members => unreachable!("a registry is not a ring"),
        };
        let sharing = sharing_of(name, &segment);
        let fields = {
            let file = object::attach(segment.as_str(), sharing, false)?;
            read_header(&segment, &file)?
        };
        // A header without the magic (or of another version) maps in any class: the attach
        // below reports it.
        let valid = fields.magic == MAGIC;
        let payload = if valid { fields.payload } else { 480 };
        let capacity = usize::try_from(fields.capacity).unwrap_or(usize::MAX);
        let lanes = usize::try_from(fields.lanes).unwrap_or(usize::MAX);
        let lanes = if per_node { lanes } else { 1 };
        macro_rules! attach {
            ($n:literal, $variant:ident) => {
                Mapped::$variant(Segment::<$n>::attach_read_only(
                    segment, kind, capacity, lanes, sharing,
                )?)
            };
        }
        let mapped = match payload {
            32 => attach!(32, C32),
            96 => attach!(96, C96),
            224 => attach!(224, C224),
            480 => attach!(480, C480),
            found => {
                let expected = CLASSES
                    .iter()
                    .map(|&c| c as u64)
                    .find(|&c| c >= found)
                    .unwrap_or(480);
                return Err(ShmError::SpecMismatch {
                    segment: segment.to_string(),
                    field: SpecField::Payload,
                    expected,
                    found,
                });
            }
        };
        Ok(Self { mapped, per_node })
    }

    /// The segment's name.
    #[must_use]
    pub fn name(&self) -> &SegmentName {
        with_mapped!(&self.mapped, s => s.name())
    }

    /// The segment's spec.
    #[must_use]
    pub fn layout(&self) -> Layout {
        with_mapped!(&self.mapped, s => s.layout())
    }

    /// True once the segment is retired: its fleet was unlinked, and its name holds (or will
    /// hold) a fresh segment. Observe the name again to follow.
    #[must_use]
    pub fn is_retired(&self) -> bool {
        with_mapped!(&self.mapped, s => s.is_retired())
    }

    /// Frames claimed in lane 0's current generation (a fleet ring's only lane).
    #[must_use]
    pub fn head(&self) -> u64 {
        with_mapped!(&self.mapped, s => s.ring().head())
    }

    /// A cursor at lane 0's head: it sees only frames claimed after this call.
    #[must_use]
    pub fn cursor_at_head(&self) -> Cursor {
        with_mapped!(&self.mapped, s => s.ring().cursor_at_head())
    }

    /// Delivers every frame of lane 0 after `cursor` to `visit` and advances the cursor, as
    /// [`Ring::poll`] does (loss counted, never an error). Loads only.
    pub fn poll(&self, cursor: &mut Cursor, visit: impl FnMut(FrameRef<'_>)) -> Poll {
        with_mapped!(&self.mapped, s => s.ring().poll(cursor, visit))
    }

    /// The segment's spec and state; lease holders and attached members named from
    /// `members` (the fleet's registry, see [`Observer::members`]).
    #[must_use]
    pub fn info(&self, members: &[MemberInfo]) -> RingInfo {
        with_mapped!(&self.mapped, s => self.info_of(s, members))
    }

    fn info_of<const N: usize>(&self, segment: &Segment<N>, members: &[MemberInfo]) -> RingInfo
    where
        crate::ring::PayloadSize<N>: crate::ring::SupportedPayload,
    {
        let layout = segment.layout();
        let file = segment.file();
        let lanes = (0..layout.lanes as usize)
            .map(|lane| lane_info(&segment.lane(lane), file, members))
            .collect();
        let attached = members
            .iter()
            .filter(|m| m.alive && matches!(tag_alive(file, m.tag), Ok(true)))
            .map(|m| m.node)
            .collect();
        RingInfo {
            name: segment.name().clone(),
            kind: layout.kind,
            per_node: self.per_node,
            layout,
            bytes: file.metadata().map_or(0, |m| m.len()),
            retired: segment.is_retired(),
            lanes,
            attached,
        }
    }
}

/// One lane's state, read with loads only.
fn lane_info<const N: usize>(ring: &Ring<'_, N>, file: &File, members: &[MemberInfo]) -> LaneInfo
where
    crate::ring::PayloadSize<N>: crate::ring::SupportedPayload,
{
    let lease = ring.lease_holder_read_only().map(|token| LeaseInfo {
        token,
        alive: tag_alive(file, token.owner()).ok(),
        node: members
            .iter()
            .find(|m| m.tag == token.owner())
            .map(|m| m.node),
    });
    LaneInfo {
        head: ring.head(),
        generation: ring.generation(),
        lease,
    }
}

/// The header words of `file`, read with `pread`.
fn read_header(segment: &SegmentName, file: &File) -> Result<HeaderFields, ShmError> {
    let mut bytes = [0u8; HeaderFields::BYTES];
    let size = file.metadata().map_or(0, |m| m.len());
    if size < HeaderFields::BYTES as u64 {
        return Err(ShmError::TooSmall {
            segment: segment.to_string(),
            size,
            needed: super::header::PREFIX_BYTES as u64,
        });
    }
    file.read_exact_at(&mut bytes, 0)
        .map_err(|source| ShmError::Io {
            segment: segment.to_string(),
            op: "pread (header)",
            source,
        })?;
    HeaderFields::from_bytes(&bytes).ok_or_else(|| ShmError::TooSmall {
        segment: segment.to_string(),
        size,
        needed: super::header::PREFIX_BYTES as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_name_segment_name_builds() {
        let group = Sharing::Group {
            gid: 7,
            access: GroupAccess::Read,
        };
        let cases = [
            (
                SegmentName::shared("a-b", 3, Sharing::Owner, 1000).unwrap(),
                ObjectRole::Ring(3),
                NameScope::User(1000),
            ),
            (
                SegmentName::lanes_shared("x-lanes7", 0, group, 0).unwrap(),
                ObjectRole::Lanes(0),
                NameScope::Group(7),
            ),
            (
                SegmentName::members("m", 0).unwrap(),
                ObjectRole::Members,
                NameScope::User(0),
            ),
        ];
        for (name, role, scope) in cases {
            let parsed = ObjectName::parse(name.as_str()).unwrap();
            assert_eq!((parsed.role, parsed.scope), (role, scope), "{name}");
            assert_eq!(parsed.segment_name().unwrap(), name);
        }
    }

    #[test]
    fn refuses_what_no_fleet_builds() {
        for bad in [
            "/orbit-",
            "/orbit-x",
            "/orbit-x-1",
            "/orbit--1-1",
            "/orbit-x-256-1",
            "/orbit-x-01-1",
            "/orbit-x-1-+1",
            "/orbit-x-1-g",
            "/orbit-x-lanes-1",
            "/orbit-.x-1-1",
            "/other-x-1-1",
            "/orbit-x-1-99999999999",
        ] {
            assert_eq!(ObjectName::parse(bad), None, "{bad}");
        }
    }
}

//! The one place that builds and validates segment names, and the [`Sharing`] policy names
//! depend on.
//!
//! | sharing | ring segment | per-node lanes | member registry |
//! |---|---|---|---|
//! | [`Sharing::Owner`] | `/orbit-{fleet}-{kind}-{uid}` | `/orbit-{fleet}-lanes{kind}-{uid}` | `/orbit-{fleet}-members-{uid}` |
//! | [`Sharing::Group`] | `/orbit-{fleet}-{kind}-g{gid}` | `/orbit-{fleet}-lanes{kind}-g{gid}` | `/orbit-{fleet}-members-g{gid}` |
//!
//! An owner-only fleet and a group fleet of the same name never meet: the last component is a
//! uid (digits) for one and `g` plus a gid for the other. Names parse from the right (kind,
//! uid and gid hold no `-`), so two distinct fleets never share a name.

use std::fmt;
use std::string::String;

use super::ShmError;

/// Longest fleet name accepted. With the prefix, kind and uid the segment name stays far below
/// `NAME_MAX` (255).
pub const FLEET_NAME_MAX: usize = 64;

/// Who may use a fleet's shared-memory objects (its ring segments and its member registry).
///
/// Objects are created with exactly the policy's [`mode`](Self::mode) (set with `fchmod`
/// after creation, whatever the umask) and, for a group, that group (`fchown`), before they
/// get their name. Attach refuses an object that grants more than the policy or, for a group,
/// belongs to another group.
///
/// # Examples
///
/// ```
/// use orbit_rs::shm::{GroupAccess, SegmentName, Sharing};
///
/// assert_eq!(Sharing::default(), Sharing::Owner);
/// assert_eq!((Sharing::Owner.mode(), Sharing::Owner.gid()), (0o600, None));
///
/// let plant = Sharing::Group { gid: 1001, access: GroupAccess::ReadWrite };
/// assert_eq!((plant.mode(), plant.gid()), (0o660, Some(1001)));
/// assert_eq!(plant.to_string(), "group 1001 read-write");
/// let name = SegmentName::shared("plant-a", 10, plant, 1000)?;
/// assert_eq!(name.as_str(), "/orbit-plant-a-10-g1001"); // the group's own names
/// # Ok::<(), orbit_rs::shm::ShmError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sharing {
    /// Only this process's effective uid: objects are owned by it and `0600` (or narrower).
    #[default]
    Owner,
    /// The members of group `gid`: objects carry that group and `0660` ([`GroupAccess::ReadWrite`])
    /// or `0640` ([`GroupAccess::Read`]) or narrower, whoever owns them. The process must be a
    /// member of `gid` (its effective gid or a supplementary group).
    Group {
        /// The group.
        gid: u32,
        /// What group members other than the objects' owner may do.
        access: GroupAccess,
    },
}

/// What the members of a [`Sharing::Group`] may do with the fleet's objects.
///
/// # Examples
///
/// A read-only group gets narrower objects, under the same names as a read-write one:
///
/// ```
/// use orbit_rs::shm::{GroupAccess, SegmentName, Sharing};
///
/// let read = Sharing::Group { gid: 1001, access: GroupAccess::Read };
/// let write = Sharing::Group { gid: 1001, access: GroupAccess::ReadWrite };
/// assert_eq!((read.mode(), write.mode()), (0o640, 0o660));
/// assert_eq!(read.to_string(), "group 1001 read");
/// assert_eq!(
///     SegmentName::shared("plant-a", 10, read, 0)?,
///     SegmentName::shared("plant-a", 10, write, 0)?
/// );
/// # Ok::<(), orbit_rs::shm::ShmError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupAccess {
    /// Read only (mode `0640`): the user that created the fleet's objects writes; every
    /// process of another user joins as an observer that polls and reads, never stores.
    Read,
    /// Read and write (mode `0660`): every member publishes, leases and resets.
    ReadWrite,
}

impl Sharing {
    /// The mode objects are created with, and the most an attacher accepts: `0o600` for
    /// [`Owner`](Self::Owner), `0o660` for a read-write group, `0o640` for a read-only one.
    #[must_use]
    pub const fn mode(self) -> u32 {
        match self {
            Self::Owner => 0o600,
            Self::Group {
                access: GroupAccess::ReadWrite,
                ..
            } => 0o660,
            Self::Group {
                access: GroupAccess::Read,
                ..
            } => 0o640,
        }
    }

    /// The group, for a group policy.
    #[must_use]
    pub const fn gid(self) -> Option<u32> {
        match self {
            Self::Owner => None,
            Self::Group { gid, .. } => Some(gid),
        }
    }

    /// The last component of this policy's names: the uid for owner-only, `g{gid}` for a group.
    fn scope(self, uid: u32) -> String {
        match self {
            Self::Owner => std::format!("{uid}"),
            Self::Group { gid, .. } => std::format!("g{gid}"),
        }
    }
}

/// `owner-only`, `group 100 read-write`, `group 100 read`.
impl fmt::Display for Sharing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Owner => f.write_str("owner-only"),
            Self::Group { gid, access } => {
                let what = match access {
                    GroupAccess::Read => "read",
                    GroupAccess::ReadWrite => "read-write",
                };
                write!(f, "group {gid} {what}")
            }
        }
    }
}

/// A validated POSIX shared-memory object name for one ring of one fleet.
///
/// # Examples
///
/// ```
/// use orbit_rs::shm::{SegmentName, ShmError};
///
/// let ring = SegmentName::new("plant-a", 220, 1000)?;
/// assert_eq!(ring.as_str(), "/orbit-plant-a-220-1000");
/// let registry = SegmentName::members("plant-a", 1000)?;
/// assert_eq!(registry.to_string(), "/orbit-plant-a-members-1000");
///
/// let err = SegmentName::new("../etc", 1, 1000).unwrap_err();
/// assert!(matches!(err, ShmError::InvalidFleetName { .. }));
/// assert!(err.to_string().starts_with("invalid fleet name \"../etc\""));
/// # Ok::<(), ShmError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SegmentName(String);

impl SegmentName {
    /// `/orbit-{fleet}-{kind}-{uid}`, after checking the fleet name with [`check_fleet_name`].
    pub fn new(fleet: &str, kind: u8, uid: u32) -> Result<Self, ShmError> {
        Self::shared(fleet, kind, Sharing::Owner, uid)
    }

    /// Ring `kind`'s name under `sharing`: `/orbit-{fleet}-{kind}-{uid}` for
    /// [`Sharing::Owner`], `/orbit-{fleet}-{kind}-g{gid}` for a group (`uid` unused).
    pub fn shared(fleet: &str, kind: u8, sharing: Sharing, uid: u32) -> Result<Self, ShmError> {
        check_fleet_name(fleet)?;
        Ok(Self(std::format!(
            "/orbit-{fleet}-{kind}-{}",
            sharing.scope(uid)
        )))
    }

    /// The segment of the per-node lanes of kind `kind` under `sharing`:
    /// `/orbit-{fleet}-lanes{kind}-{uid}` for [`Sharing::Owner`],
    /// `/orbit-{fleet}-lanes{kind}-g{gid}` for a group (`uid` unused). Never a ring's name
    /// (whose kind is digits only) nor the registry's.
    pub fn lanes_shared(
        fleet: &str,
        kind: u8,
        sharing: Sharing,
        uid: u32,
    ) -> Result<Self, ShmError> {
        check_fleet_name(fleet)?;
        Ok(Self(std::format!(
            "/orbit-{fleet}-lanes{kind}-{}",
            sharing.scope(uid)
        )))
    }

    /// `/orbit-{fleet}-members-{uid}`: the fleet's member registry (see
    /// `Member`, feature `shm`). Never a ring's name: those end in `-{kind}-{uid}`, digits.
    pub fn members(fleet: &str, uid: u32) -> Result<Self, ShmError> {
        Self::members_shared(fleet, Sharing::Owner, uid)
    }

    /// The member registry's name under `sharing`: `/orbit-{fleet}-members-{uid}` for
    /// [`Sharing::Owner`], `/orbit-{fleet}-members-g{gid}` for a group (`uid` unused).
    pub fn members_shared(fleet: &str, sharing: Sharing, uid: u32) -> Result<Self, ShmError> {
        check_fleet_name(fleet)?;
        Ok(Self(std::format!(
            "/orbit-{fleet}-members-{}",
            sharing.scope(uid)
        )))
    }

    /// The name as passed to `shm_open`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a fleet name: 1 to [`FLEET_NAME_MAX`] bytes of ASCII letters, digits, `_`, `.` and
/// `-` (so no `/`, NUL or whitespace can reach `shm_open`).
pub fn check_fleet_name(fleet: &str) -> Result<(), ShmError> {
    let invalid = |reason: &'static str| ShmError::InvalidFleetName {
        name: fleet.into(),
        reason,
    };
    if fleet.is_empty() {
        return Err(invalid("it is empty"));
    }
    if fleet.len() > FLEET_NAME_MAX {
        return Err(invalid("it is longer than 64 bytes"));
    }
    if !fleet
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(invalid(
            "only ASCII letters, digits, '_', '.' and '-' are allowed",
        ));
    }
    if fleet.starts_with('.') {
        return Err(invalid("it starts with '.'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_documented_name() {
        assert_eq!(
            SegmentName::new("plant-a", 220, 1000).unwrap().as_str(),
            "/orbit-plant-a-220-1000"
        );
    }

    #[test]
    fn lanes_have_names_of_their_own() {
        let lanes = SegmentName::lanes_shared("plant-a", 7, Sharing::Owner, 1000).unwrap();
        assert_eq!(lanes.as_str(), "/orbit-plant-a-lanes7-1000");
        assert_ne!(lanes, SegmentName::new("plant-a", 7, 1000).unwrap());
        // A fleet named "x-lanes7" has ring "/orbit-x-lanes7-7-1000": never the lanes of "x".
        let other = SegmentName::new("plant-a-lanes7", 7, 1000).unwrap();
        assert_ne!(other.as_str(), lanes.as_str());
    }

    #[test]
    fn group_names_never_meet_owner_names() {
        let group = Sharing::Group {
            gid: 1000,
            access: GroupAccess::ReadWrite,
        };
        let ring = SegmentName::shared("plant-a", 220, group, 1000).unwrap();
        assert_eq!(ring.as_str(), "/orbit-plant-a-220-g1000");
        assert_ne!(ring, SegmentName::new("plant-a", 220, 1000).unwrap());
        let read = Sharing::Group {
            gid: 1000,
            access: GroupAccess::Read,
        };
        assert_eq!(
            SegmentName::shared("plant-a", 220, read, 7).unwrap(),
            ring,
            "one group fleet per name and gid, whatever the access"
        );
        assert_eq!(
            SegmentName::members_shared("plant-a", group, 1000)
                .unwrap()
                .as_str(),
            "/orbit-plant-a-members-g1000"
        );
        assert_eq!(
            SegmentName::members("plant-a", 1000).unwrap().as_str(),
            "/orbit-plant-a-members-1000"
        );
        assert_eq!(
            (Sharing::Owner.mode(), group.mode(), read.mode()),
            (0o600, 0o660, 0o640)
        );
    }

    #[test]
    fn rejects_bad_fleet_names() {
        let long = "x".repeat(FLEET_NAME_MAX + 1);
        for bad in [
            "",
            "a/b",
            "a\0b",
            "a b",
            "..",
            ".hidden",
            "é",
            long.as_str(),
        ] {
            assert!(
                matches!(
                    SegmentName::new(bad, 1, 0),
                    Err(ShmError::InvalidFleetName { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(SegmentName::new(&"x".repeat(FLEET_NAME_MAX), 1, 0).is_ok());
    }
}

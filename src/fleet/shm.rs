//! Shared-memory fleets: this process's membership, and ring segments held under its tag.
//!
//! Joining a fleet over shared memory makes this handle a *member*: it takes its node id in
//! the fleet's registry (`/orbit-{fleet}-members-{uid}`, see [`crate::shm::Member`]) — a second
//! live member with the same node id is refused by the kernel — and draws a *tag*, unique among
//! live members. Every ring segment it opens, it holds the tag's liveness lock on (an OFD lock
//! the kernel drops when the process dies, zombie or not, in any pid namespace), and every
//! write it makes is recorded under the tag: in the lease token of a writer lease or a reset,
//! and in the `writer` word of each slot it writes. So whoever finds a lease held or a slot
//! stuck mid-write can ask the kernel, through the same segment, whether its writer lives.
//! That one question decides every "is it dead?" of a fleet: breaking a lease, returning a
//! stuck slot to service.
//!
//! Under a [`Sharing::Group`] policy the fleet's objects are named with the group
//! (`/orbit-{fleet}-{kind}-g{gid}`, `/orbit-{fleet}-members-g{gid}`), created with the
//! policy's mode and group, and attached by any member of the group. Under its read policy
//! (`0640`) only the user that owns the registry writes: a process of another user is an
//! *observer*. It opens the registry read-only only to check it (no node id, no tag), attaches
//! ring segments `O_RDONLY` and maps them read-only, never creates or unlinks one, and never
//! stores: writing operations return [`Error::ReadOnly`] before reaching a ring, and it never
//! recovers a dead writer's slot or lease (it waits `stuck_after`, then gives up on the
//! counter, as readers did before recovery existed).

use std::boxed::Box;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::{PAYLOAD_MAX, RingSpec};
use crate::error::{Error, Result};
use crate::id::NodeId;
use crate::ring::{PayloadSize, Ring, SupportedPayload};
use crate::shm::object::open_or_create_plain_shared;
use crate::shm::{
    Member, OPEN_ROUNDS, Segment, SegmentName, Sharing, ShmError, current_uid, hold_tag, tag_alive,
};

/// A handle's standing in a shared-memory fleet: the sharing policy, and its membership —
/// `None` for a read-policy observer, which holds no node id and no tag and never stores.
#[derive(Clone, Debug)]
pub(crate) struct Membership {
    sharing: Sharing,
    member: Option<Arc<Member>>,
}

impl Membership {
    /// True for a read-policy observer: every ring is mapped read-only.
    pub(crate) fn read_only(&self) -> bool {
        self.member.is_none()
    }

    /// Removes the name of fleet `fleet`'s member registry (see [`Fleet::remove_names`]).
    ///
    /// [`Fleet::remove_names`]: super::Fleet::remove_names
    pub(crate) fn remove_registry_name(&self, fleet: &str) -> Result<()> {
        let name = SegmentName::members_shared(fleet, self.sharing, current_uid())?;
        Segment::<PAYLOAD_MAX>::unlink(&name)?;
        Ok(())
    }

    /// The tag this handle writes under; 0 for an observer (which never writes).
    fn tag(&self) -> u32 {
        self.member.as_ref().map_or(0, |m| m.tag())
    }
}

/// Joins fleet `fleet`'s registry as `node` under `sharing`, or — under a group's read policy,
/// when another user owns the registry — as an observer that only checks it.
pub(crate) fn join(fleet: &str, node: NodeId, sharing: Sharing) -> Result<Membership> {
    let name = SegmentName::members_shared(fleet, sharing, current_uid())?;
    for _ in 0..OPEN_ROUNDS {
        let (file, writes) = open_or_create_plain_shared(name.as_str(), sharing)?;
        if !writes {
            // An observer's read-only descriptor closes here: it holds nothing in the registry.
            return Ok(Membership {
                sharing,
                member: None,
            });
        }
        // `None`: the last member of the fleet removed the registry's name after we opened
        // it; open (create) it again.
        if let Some(member) = Member::join_named(file, node.get(), name.as_str())? {
            return Ok(Membership {
                sharing,
                member: Some(Arc::new(member)),
            });
        }
    }
    Err(ShmError::KeepsDisappearing {
        segment: name.to_string(),
        rounds: OPEN_ROUNDS,
    }
    .into())
}

/// One ring segment opened by a member, which holds its tag's liveness lock on it (an
/// observer's: mapped read-only, no lock).
pub(crate) struct MemberSegment<const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    segment: Segment<N>,
    member: Membership,
    /// `member`'s tag, copied once: every operation's ring is stamped with it.
    tag: u32,
}

impl<const N: usize> MemberSegment<N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Creates or attaches the segment of `spec` of fleet `fleet` for `member`.
    pub(crate) fn open(fleet: &str, spec: RingSpec, member: Membership) -> Result<Self> {
        let (kind, capacity, lanes) = (spec.kind, spec.capacity, spec.lane_count());
        let uid = current_uid();
        let name = match spec.lanes {
            None => SegmentName::shared(fleet, kind, member.sharing, uid)?,
            Some(_) => SegmentName::lanes_shared(fleet, kind, member.sharing, uid)?,
        };
        let Some(tagged) = &member.member else {
            let segment = Segment::attach_read_only(name, kind, capacity, lanes, member.sharing)?;
            return Ok(Self {
                segment,
                member,
                tag: 0,
            });
        };
        let segment = Segment::open_lanes(name, kind, capacity, lanes, member.sharing)?;
        // Without the lock this member would look dead to everyone: its leases broken, its
        // slots recovered under it. Only a hostile exclusive lock on the byte refuses it.
        let held = hold_tag(segment.file(), tagged.tag()).and_then(|held| {
            held.then_some(()).ok_or_else(|| {
                std::io::Error::other("the tag's liveness byte is locked exclusively by another")
            })
        });
        held.map_err(|source| ShmError::Io {
            segment: segment.name().to_string(),
            op: "fcntl F_OFD_SETLK (tag)",
            source,
        })?;
        let tag = tagged.tag();
        Ok(Self {
            segment,
            member,
            tag,
        })
    }

    /// Lane `lane`'s ring (the segment's only one for a fleet ring), with this member's tag
    /// as its owner.
    #[inline]
    pub(crate) fn lane(&self, lane: usize) -> Ring<'_, N> {
        self.segment.lane(lane).with_owner(self.tag)
    }

    /// True only if the kernel says no process holds `tag`'s liveness lock on this segment.
    /// Tag 0 (a writer that recorded nobody) and this member's own tag are never gone, and an
    /// error is a doubt: never gone. An observer never finds anyone gone: it must not recover
    /// (that stores), so it never asks.
    pub(crate) fn is_gone(&self, tag: u32) -> bool {
        !self.member.read_only()
            && tag != 0
            && tag != self.member.tag()
            && matches!(tag_alive(self.segment.file(), tag), Ok(false))
    }

    pub(crate) fn segment(&self) -> &Segment<N> {
        &self.segment
    }
}

/// A fleet ring's segments as one handle has used them: the first one it attached, then each
/// one it moved to after finding the previous one retired ([`Segment::retire`]: somebody
/// unlinked the fleet). Members notice a retirement on their next operation, re-attach by
/// name — creating the segment if they are first — and their cursors report the move as a
/// rewind (the new segment's counters are unrelated).
///
/// Retired segments stay mapped until the handle drops: `Ring`s borrowed from them stay
/// valid, and one mapping per retirement seen is the cost.
pub(crate) struct Attached<const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    fleet: String,
    spec: RingSpec,
    first: Link<N>,
    /// Held while moving to a new segment, so one handle attaches once per retirement.
    moving: Mutex<()>,
}

struct Link<const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    segment: MemberSegment<N>,
    next: OnceLock<Box<Link<N>>>,
}

impl<const N: usize> Attached<N>
where
    PayloadSize<N>: SupportedPayload,
{
    pub(crate) fn open(fleet: &str, spec: RingSpec, member: Membership) -> Result<Self> {
        Ok(Self {
            fleet: fleet.to_string(),
            spec,
            first: Link {
                segment: MemberSegment::open(fleet, spec, member)?,
                next: OnceLock::new(),
            },
            moving: Mutex::new(()),
        })
    }

    /// The segment in use: the newest this handle attached, or — if that one is retired — the
    /// one the name holds now (if attaching it fails, the retired one, and the next call tries
    /// again).
    #[inline]
    pub(crate) fn current(&self) -> &MemberSegment<N> {
        let mut link = &self.first;
        while let Some(next) = link.next.get() {
            link = next;
        }
        if !link.segment.segment.is_retired() {
            return &link.segment;
        }
        self.move_on(link)
    }

    /// [`current`](Self::current) after finding `link`, the newest segment this handle
    /// attached, retired: out of line, so the check above stays a few instructions.
    #[cold]
    #[inline(never)]
    fn move_on<'a>(&'a self, link: &'a Link<N>) -> &'a MemberSegment<N> {
        let _moving = self.moving.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(next) = link.next.get() {
            return &next.segment; // Another thread of this handle moved meanwhile.
        }
        let member = link.segment.member.clone();
        match MemberSegment::open(&self.fleet, self.spec, member) {
            Ok(segment) => {
                let next = link.next.get_or_init(|| {
                    Box::new(Link {
                        segment,
                        next: OnceLock::new(),
                    })
                });
                &next.segment
            }
            Err(_) => &link.segment,
        }
    }

    /// True if this handle is a read-policy observer: its segments are mapped read-only.
    pub(crate) fn read_only(&self) -> bool {
        self.first.segment.member.read_only()
    }

    /// [`Error::ReadOnly`] for an observer's ring, before anything could store into it.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.read_only() {
            return Err(Error::ReadOnly {
                fleet: self.fleet.clone(),
            });
        }
        Ok(())
    }

    /// Retires the segment in use (see [`Segment::retire`]); [`Error::ReadOnly`] for an
    /// observer. In a group fleet only the segment's owner (or root) may remove its name from
    /// the sticky `/dev/shm`, so another member is refused ([`ShmError::ForeignOwner`]) before
    /// marking it retired: a mark without the unlink would leave the name to a retired segment
    /// that only its owner can clear.
    pub(crate) fn retire(&self) -> Result<()> {
        self.check_writable()?;
        let segment = self.current().segment();
        let euid = rustix::process::geteuid();
        let stat = rustix::fs::fstat(segment.file()).map_err(|e| ShmError::Io {
            segment: segment.name().to_string(),
            op: "fstat",
            source: e.into(),
        })?;
        if stat.st_uid != euid.as_raw() && !euid.is_root() {
            return Err(ShmError::ForeignOwner {
                segment: segment.name().to_string(),
                owner: stat.st_uid,
                euid: euid.as_raw(),
            }
            .into());
        }
        segment.retire()?;
        Ok(())
    }
}

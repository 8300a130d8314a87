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

use std::boxed::Box;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::PAYLOAD_MAX;
use crate::error::Result;
use crate::id::NodeId;
use crate::ring::Ring;
use crate::shm::object::open_or_create_plain;
use crate::shm::{Member, Segment, SegmentName, ShmError, current_uid, hold_tag, tag_alive};

pub(crate) type FleetSegment = Segment<PAYLOAD_MAX>;

/// Joins fleet `fleet`'s registry as `node`.
pub(crate) fn join(fleet: &str, node: NodeId) -> Result<Arc<Member>> {
    let name = SegmentName::members(fleet, current_uid())?;
    let file = open_or_create_plain(name.as_str())?;
    Ok(Arc::new(Member::join(file, node.get())?))
}

/// One ring segment opened by a member, which holds its tag's liveness lock on it.
pub(crate) struct MemberSegment {
    segment: FleetSegment,
    member: Arc<Member>,
}

impl MemberSegment {
    /// Creates or attaches the segment of ring `kind` of fleet `fleet` for `member`.
    pub(crate) fn open(
        fleet: &str,
        kind: u8,
        capacity: usize,
        member: Arc<Member>,
    ) -> Result<Self> {
        let name = SegmentName::new(fleet, kind, current_uid())?;
        let segment = Segment::open(name, kind, capacity)?;
        // Without the lock this member would look dead to everyone: its leases broken, its
        // slots recovered under it. Only a hostile exclusive lock on the byte refuses it.
        let held = hold_tag(segment.file(), member.tag()).and_then(|held| {
            held.then_some(()).ok_or_else(|| {
                std::io::Error::other("the tag's liveness byte is locked exclusively by another")
            })
        });
        held.map_err(|source| ShmError::Io {
            segment: segment.name().to_string(),
            op: "fcntl F_OFD_SETLK (tag)",
            source,
        })?;
        Ok(Self { segment, member })
    }

    /// The ring, with this member's tag as its owner.
    pub(crate) fn ring(&self) -> Ring<'_, PAYLOAD_MAX> {
        self.segment.ring().with_owner(self.member.tag())
    }

    /// True only if the kernel says no process holds `tag`'s liveness lock on this segment.
    /// Tag 0 (a writer that recorded nobody) and this member's own tag are never gone, and an
    /// error is a doubt: never gone.
    pub(crate) fn is_gone(&self, tag: u32) -> bool {
        tag != 0
            && tag != self.member.tag()
            && matches!(tag_alive(self.segment.file(), tag), Ok(false))
    }

    pub(crate) fn segment(&self) -> &FleetSegment {
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
pub(crate) struct Attached {
    fleet: String,
    kind: u8,
    capacity: usize,
    first: Link,
    /// Held while moving to a new segment, so one handle attaches once per retirement.
    moving: Mutex<()>,
}

struct Link {
    segment: MemberSegment,
    next: OnceLock<Box<Link>>,
}

impl Attached {
    pub(crate) fn open(
        fleet: &str,
        kind: u8,
        capacity: usize,
        member: Arc<Member>,
    ) -> Result<Self> {
        Ok(Self {
            fleet: fleet.to_string(),
            kind,
            capacity,
            first: Link {
                segment: MemberSegment::open(fleet, kind, capacity, member)?,
                next: OnceLock::new(),
            },
            moving: Mutex::new(()),
        })
    }

    /// The segment in use: the newest this handle attached, or — if that one is retired — the
    /// one the name holds now (if attaching it fails, the retired one, and the next call tries
    /// again).
    pub(crate) fn current(&self) -> &MemberSegment {
        let mut link = &self.first;
        while let Some(next) = link.next.get() {
            link = next;
        }
        if !link.segment.segment.is_retired() {
            return &link.segment;
        }
        let _moving = self.moving.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(next) = link.next.get() {
            return &next.segment; // Another thread of this handle moved meanwhile.
        }
        let member = link.segment.member.clone();
        match MemberSegment::open(&self.fleet, self.kind, self.capacity, member) {
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

    /// Retires the segment in use (see [`Segment::retire`]).
    pub(crate) fn retire(&self) -> Result<()> {
        self.current().segment().retire()?;
        Ok(())
    }
}

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

use std::string::ToString;
use std::sync::Arc;

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

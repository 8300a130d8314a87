//! POSIX shared-memory rings. Names, header layout and errors are always available with
//! `std`; creating and mapping segments (`Segment`) needs the `shm` feature on Unix.
//!
//! Files: `name.rs` builds and validates segment names and holds the [`Sharing`] policy they
//! depend on; `header.rs` is the segment layout and
//! its validation; `object.rs` opens, creates and checks the files behind names (symlinks
//! never followed; only regular single-link files of ours on the shm device); `segment.rs`
//! creates, attaches and maps segments (the only `unsafe` in the crate); `error.rs` holds
//! [`ShmError`].
//!
//! One segment per ring, named `/orbit-{fleet}-{kind}-{uid}` (a type's per-node lanes: one
//! segment of one ring per node, `/orbit-{fleet}-lanes{kind}-{uid}`), mode 0600 — or, shared with a
//! group ([`Sharing::Group`]), `/orbit-{fleet}-{kind}-g{gid}`, mode 0660 (read-write) or 0640
//! (read: only the owner writes; other users' processes map it read-only), group `gid`, set
//! with `fchown`/`fchmod` before the segment is named. On Linux a segment is
//! created without a name (`O_TMPFILE` in `/dev/shm`), its memory reserved (`fallocate`: a
//! ring that does not fit is an error at creation), its header written with the magic last,
//! and only then linked under its name (`linkat`): the link picks exactly one creator, the
//! others attach to its segment, and a creator killed at any instruction leaves nothing under
//! the name. So an attacher never waits, and an object under the name without the magic is
//! reported at once. Elsewhere `O_CREAT | O_EXCL` picks the creator and attachers wait
//! (bounded by `INIT_WAIT`) for the magic. A segment larger than `ulimit -f` is an error, not
//! SIGXFSZ. On Linux the object is opened as `/dev/shm/<name>` with `O_NOFOLLOW`: only a
//! regular file with one link on the shm device is accepted. Attach refuses what the sharing
//! policy does not allow — owner-only: another owner, a mode beyond `0600`; a group: another
//! group, a mode beyond the policy's (never a bit for others) — checks the magic, layout
//! version, kind, capacity, payload capacity and stride, and checks the object's real size
//! before mapping it.

mod error;
// Without `shm` only the test hooks read the layout (validation is fuzzed without mapping).
#[cfg_attr(not(all(feature = "shm", unix)), allow(dead_code))]
mod header;
#[cfg(all(feature = "shm", target_os = "linux"))]
mod liveness;
mod name;
#[cfg(all(feature = "shm", unix))]
pub(crate) mod object;
#[cfg(all(feature = "shm", target_os = "linux"))]
mod observe;
#[cfg(all(feature = "shm", target_os = "linux"))]
mod registry;
#[cfg(all(feature = "shm", unix))]
mod segment;

pub use error::{ShmError, SpecField};
pub use header::Layout;
#[cfg(all(feature = "shm", target_os = "linux"))]
pub(crate) use liveness::{hold_tag, tag_alive};
pub use name::{FLEET_NAME_MAX, GroupAccess, SegmentName, Sharing, check_fleet_name};
#[cfg(all(feature = "shm", target_os = "linux"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "shm", target_os = "linux"))))]
pub use observe::{
    EntryProblem, FleetInfo, LaneInfo, LeaseInfo, NameScope, ObjectName, ObjectRole, ObservedRing,
    Observer, ProblemKind, RingInfo, Survey, survey,
};
#[cfg(all(feature = "shm", target_os = "linux"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "shm", target_os = "linux"))))]
pub use registry::{Member, MemberInfo, members};

/// The segment and registry formats' internals, for this crate's own tests and fuzz targets
/// (feature `__test-hooks`): not API, no stability promise. The layout they describe is
/// documented in `DESIGN.md` and on [`Layout`].
#[cfg(feature = "__test-hooks")]
#[doc(hidden)]
pub mod internals {
    pub use super::header::{HeaderFields, LAYOUT_VERSION, MAGIC, PREFIX_BYTES};
    #[cfg(all(feature = "shm", target_os = "linux"))]
    pub use super::liveness::{TAG_LOCK_BASE, hold_tag, tag_alive};
    #[cfg(all(feature = "shm", target_os = "linux"))]
    pub use super::registry::{ENTRY_BYTES, NODE_LOCK_BASE, REGISTRY_BYTES, TAG_DRAWS};
}
#[cfg(all(feature = "shm", unix))]
pub(crate) use segment::retired;
#[cfg(all(feature = "shm", unix))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "shm", unix))))]
pub use segment::{INIT_WAIT, OPEN_ROUNDS, Segment, current_uid};

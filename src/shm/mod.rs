//! POSIX shared-memory rings. Names, header layout and errors are always available with
//! `std`; creating and mapping segments (`Segment`) needs the `shm` feature on Unix.
//!
//! Files: `name.rs` builds and validates segment names; `header.rs` is the segment layout and
//! its validation; `segment.rs` creates, attaches and maps segments (the only `unsafe` in the
//! crate); `error.rs` holds [`ShmError`].
//!
//! One segment per ring, named `/orbit-{fleet}-{kind}-{uid}`, mode 0600. Creation is
//! race-free: `O_CREAT | O_EXCL` picks exactly one creator, which reserves the object's memory
//! (`fallocate`: a ring that does not fit is an error at creation), writes the header and
//! publishes the magic last; attachers wait (bounded by `INIT_WAIT`) for the magic. On Linux
//! the object is opened as `/dev/shm/<name>` with `O_NOFOLLOW`: only a regular file with one
//! link on the shm device is accepted. Attach refuses segments owned by another user or whose
//! mode is not owner-only (`0600` or narrower), checks the magic, layout version, kind,
//! capacity, payload capacity and stride, and checks the object's real size before mapping it.

mod error;
mod header;
#[cfg(all(feature = "shm", target_os = "linux"))]
mod liveness;
mod name;
#[cfg(all(feature = "shm", target_os = "linux"))]
mod registry;
#[cfg(all(feature = "shm", unix))]
mod segment;

pub use error::{ShmError, SpecField};
pub use header::{HeaderFields, LAYOUT_VERSION, Layout, MAGIC, PREFIX_BYTES};
#[cfg(all(feature = "shm", target_os = "linux"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "shm", target_os = "linux"))))]
pub use liveness::{TAG_LOCK_BASE, hold_tag, tag_alive};
pub use name::{FLEET_NAME_MAX, SegmentName, check_fleet_name};
#[cfg(all(feature = "shm", target_os = "linux"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "shm", target_os = "linux"))))]
pub use registry::{
    ENTRY_BYTES, Member, MemberInfo, NODE_LOCK_BASE, REGISTRY_BYTES, TAG_DRAWS, members,
};
#[cfg(all(feature = "shm", unix))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "shm", unix))))]
pub use segment::{INIT_WAIT, OPEN_ROUNDS, Segment, current_uid};

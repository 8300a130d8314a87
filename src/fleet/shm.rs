//! Shared-memory ring storage: one segment per ring kind.

use super::PAYLOAD_MAX;
use crate::error::Result;
use crate::shm::{Segment, SegmentName, current_uid};

pub(crate) type FleetSegment = Segment<PAYLOAD_MAX>;

/// Creates or attaches the segment of ring `kind` of fleet `fleet`.
pub(crate) fn open(fleet: &str, kind: u8, capacity: usize) -> Result<FleetSegment> {
    let name = SegmentName::new(fleet, kind, current_uid())?;
    Ok(Segment::open(name, kind, capacity)?)
}

/// True if no process with this id exists (`kill(pid, 0)` fails with `ESRCH`). A process we
/// may not signal (`EPERM`) exists; an id that is not a valid pid is treated as alive, so a
/// lease is never broken on a doubt.
pub(crate) fn process_is_gone(pid: u64) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
}

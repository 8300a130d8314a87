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

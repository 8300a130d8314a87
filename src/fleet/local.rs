//! In-process ring storage: slots and head on the heap.

use std::boxed::Box;
use std::vec::Vec;

use super::PAYLOAD_MAX;
use crate::error::{Error, Result};
use crate::ring::{Head, Ring, Slot, SpecError, check_capacity};

/// Heap-allocated slots and head for one in-process ring.
pub(crate) struct LocalRing {
    slots: Box<[Slot<PAYLOAD_MAX>]>,
    head: Box<Head>,
}

impl LocalRing {
    pub(crate) fn new(capacity: usize) -> Result<Self> {
        // Check before allocating: a huge capacity must be an error, not an allocation abort.
        check_capacity(capacity)?;
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(capacity)
            .map_err(|_| Error::OutOfMemory {
                capacity,
                bytes: capacity.saturating_mul(core::mem::size_of::<Slot<PAYLOAD_MAX>>()),
            })?;
        slots.extend((0..capacity).map(|_| Slot::new()));
        let head = Box::new(Head::new());
        head.seed_start();
        Ok(Self {
            slots: slots.into_boxed_slice(),
            head,
        })
    }

    pub(crate) fn ring(&self) -> core::result::Result<Ring<'_, PAYLOAD_MAX>, SpecError> {
        Ring::new(&self.slots, &self.head)
    }
}

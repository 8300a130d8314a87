//! In-process fleets: the rings every handle of this process that joins one fleet name shares.

use std::collections::HashMap;
use std::string::String;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use std::boxed::Box;

use super::RingSpec;
use crate::OwnedRing;
use crate::error::{Error, Result};
use crate::ring::{PayloadSize, SupportedPayload};

/// An in-process ring of some slot class: the class (payload bytes `N`) and the
/// `OwnedRing<N>`.
type AnyOwned = (usize, Box<dyn core::any::Any + Send + Sync>);

/// One in-process fleet's rings and lanes, by kind.
pub(crate) struct LocalRings {
    rings: Mutex<HashMap<(u8, bool), AnyOwned>>,
}

/// This process's in-process fleets, by name; an entry lives as long as a handle holds it.
static FLEETS: LazyLock<Mutex<HashMap<String, Weak<LocalRings>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The rings of in-process fleet `name`, shared with every live handle that joined it.
pub(crate) fn rings_of(name: &str) -> Arc<LocalRings> {
    let mut fleets = FLEETS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(rings) = fleets.get(name).and_then(Weak::upgrade) {
        return rings;
    }
    // Forget fleets whose handles are all gone, so names do not accumulate.
    fleets.retain(|_, rings| rings.strong_count() > 0);
    let rings = Arc::new(LocalRings {
        rings: Mutex::new(HashMap::new()),
    });
    fleets.insert(name.into(), Arc::downgrade(&rings));
    rings
}

impl LocalRings {
    /// The ring (or lanes) of `spec` (created by the first handle that opens it);
    /// [`Error::SpecMismatch`] if it exists with another capacity,
    /// [`Error::FleetSizeMismatch`] for lanes of another fleet size.
    pub(crate) fn ring<const N: usize>(&self, spec: RingSpec) -> Result<OwnedRing<N>>
    where
        PayloadSize<N>: SupportedPayload,
    {
        let (kind, capacity) = (spec.kind, spec.capacity);
        let key = (kind, spec.lanes.is_some());
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((class, any)) = rings.get(&key) {
            // Another handle of this fleet name may have opened the kind in another class.
            let Some(ring) = any.downcast_ref::<OwnedRing<N>>() else {
                return Err(Error::PayloadMismatch {
                    kind,
                    expected: *class,
                    found: N,
                });
            };
            if ring.capacity() != capacity {
                return Err(Error::SpecMismatch {
                    kind,
                    expected: ring.capacity(),
                    found: capacity,
                });
            }
            if ring.lanes() != spec.lane_count() {
                return Err(Error::FleetSizeMismatch {
                    kind,
                    expected: ring.lanes(),
                    found: spec.lane_count(),
                });
            }
            return Ok(ring.clone());
        }
        let ring = OwnedRing::<N>::with_lanes(capacity, spec.lane_count())?;
        rings.insert(key, (N, Box::new(ring.clone())));
        Ok(ring)
    }
}

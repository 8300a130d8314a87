//! In-process fleets: the rings every handle of this process that joins one fleet name shares.

use std::collections::HashMap;
use std::string::String;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use super::PAYLOAD_MAX;
use crate::OwnedRing;
use crate::error::{Error, Result};

/// One in-process fleet's rings, by kind.
pub(crate) struct LocalRings {
    rings: Mutex<HashMap<u8, OwnedRing<PAYLOAD_MAX>>>,
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
    /// The ring of `kind` (created with `capacity` slots by the first handle that opens it);
    /// [`Error::SpecMismatch`] if it exists with another capacity.
    pub(crate) fn ring(&self, kind: u8, capacity: usize) -> Result<OwnedRing<PAYLOAD_MAX>> {
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ring) = rings.get(&kind) {
            if ring.capacity() != capacity {
                return Err(Error::SpecMismatch {
                    kind,
                    expected: ring.capacity(),
                    found: capacity,
                });
            }
            return Ok(ring.clone());
        }
        let ring = OwnedRing::new(capacity)?;
        rings.insert(kind, ring.clone());
        Ok(ring)
    }
}

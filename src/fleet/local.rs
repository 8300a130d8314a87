//! In-process fleets: the rings every handle of this process that joins one fleet name shares.

use std::collections::HashMap;
use std::string::String;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use std::boxed::Box;

use crate::OwnedRing;
use crate::error::{Error, Result};
use crate::ring::{PayloadSize, SupportedPayload};

/// An in-process ring of some slot class: the class (payload bytes `N`) and the
/// `OwnedRing<N>`.
type AnyOwned = (usize, Box<dyn core::any::Any + Send + Sync>);

/// One in-process fleet's rings, by kind.
pub(crate) struct LocalRings {
    rings: Mutex<HashMap<u8, AnyOwned>>,
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
    pub(crate) fn ring<const N: usize>(&self, kind: u8, capacity: usize) -> Result<OwnedRing<N>>
    where
        PayloadSize<N>: SupportedPayload,
    {
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((class, any)) = rings.get(&kind) {
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
            return Ok(ring.clone());
        }
        let ring = OwnedRing::<N>::new(capacity)?;
        rings.insert(kind, (N, Box::new(ring.clone())));
        Ok(ring)
    }
}

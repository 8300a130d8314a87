//! [`Orbital<T>`]: the newest value of a plain-old-data type, shared through a fleet ring.

use core::mem::size_of;
use std::sync::Arc;

use super::{Fleet, FleetRing};
use crate::error::{Error, Result};
use crate::id::NetId64;
use crate::typed::OrbitTyped;

/// The newest value of `T`, stored in and loaded from `T`'s fleet ring (across processes on a
/// shared-memory fleet). Cheap to clone.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use orbit_rs::bytemuck::{Pod, Zeroable};
/// use orbit_rs::{Fleet, OrbitTyped, Orbital};
///
/// #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
/// #[bytemuck(crate = "orbit_rs::bytemuck")]
/// #[repr(C)]
/// struct Setpoint { celsius: f32, fan: u32 }
/// impl OrbitTyped for Setpoint { const KIND: u8 = 12; const CAPACITY: usize = 4; }
///
/// let fleet = Arc::new(Fleet::join("orbital-doc", 1)?);
/// let setpoint = Orbital::<Setpoint>::new(fleet)?;
/// assert_eq!(setpoint.load(), None);
/// setpoint.store(&Setpoint { celsius: 21.5, fan: 2 })?;
/// assert_eq!(setpoint.load(), Some(Setpoint { celsius: 21.5, fan: 2 }));
/// # Ok::<(), orbit_rs::Error>(())
/// ```
pub struct Orbital<T> {
    ring: FleetRing<T>,
}

impl<T> Clone for Orbital<T> {
    fn clone(&self) -> Self {
        Self {
            ring: self.ring.clone(),
        }
    }
}

impl<T> core::fmt::Debug for Orbital<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Orbital").field("ring", &self.ring).finish()
    }
}

impl<T: bytemuck::Pod + OrbitTyped> Orbital<T> {
    /// Opens `T`'s ring; fails if `T` does not fit a slot or the ring cannot be opened.
    pub fn new(fleet: Arc<Fleet>) -> Result<Self> {
        let ring = fleet.ring::<T>()?;
        if size_of::<T>() > ring.payload() {
            return Err(Error::ValueTooLarge {
                size: size_of::<T>(),
                max: ring.payload(),
            });
        }
        Ok(Self { ring })
    }

    /// Publishes `value` as the newest one.
    pub fn store(&self, value: &T) -> Result<NetId64> {
        self.ring.publish(value)
    }

    /// The newest stored value, if any. Frames of another shape under the same kind are
    /// ignored, never reinterpreted.
    #[must_use]
    pub fn load(&self) -> Option<T> {
        self.ring.latest().map(|sample| sample.value)
    }
}

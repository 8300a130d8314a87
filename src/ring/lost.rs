//! Loss markers: committing a counter that carries no frame, so that frames lost *before* they
//! reached this ring (upstream of a bridge, say) are counted by its readers like any other loss.
//!
//! A loss marker is a publish whose `meta` word is the void value (a payload length no slot
//! holds), the same word [`Ring::recover_stalled`] commits for a dead writer's slot: claim a
//! counter, take its slot, store the void `meta`, commit the even seq with release, wake the
//! waiters. Readers already reject such a slot on validation and count its counter
//! [unavailable](crate::Loss::unavailable); no void frame is ever delivered. Nothing in the
//! protocol changes: every step is the publish path's own (`write.rs`), only the `meta` word
//! differs and no payload word is written.

use super::slot::VOID_META;
use super::{PayloadSize, PublishError, Ring, SupportedPayload};
use crate::sync::Ordering;

impl<const N: usize> Ring<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Commits `count` loss markers: `count` counters that readers count
    /// [unavailable](crate::Loss::unavailable), in order with the frames around them — for
    /// frames lost before they reached this ring (a bridge republishing another host's stream
    /// turns that stream's loss into these). Each marker costs what a publish of an empty
    /// payload costs; no marker is ever delivered as a frame.
    ///
    /// `count` is a `u32`: a larger gap is not loss but a broken stream, for the caller to
    /// report rather than to loop over.
    ///
    /// # Errors
    ///
    /// Stops at the first marker the ring refuses for a reason that claims no counter or
    /// claims one outside the readers' generation ([`PublishError::Leased`],
    /// [`PublishError::Resetting`], [`PublishError::LeaseEnding`], [`PublishError::Reset`],
    /// [`PublishError::CounterExhausted`]); the markers committed before it stay. A marker
    /// whose counter was claimed but whose slot could not be taken
    /// ([`PublishError::SlotBusy`], [`PublishError::Lapped`]) is not an error: readers count
    /// that counter lost, which is what the marker was for.
    ///
    /// # Examples
    ///
    /// ```
    /// use orbit_rs::{Cursor, Head, Ring, Slot};
    ///
    /// let slots = [Slot::<16>::EMPTY; 8];
    /// let head = Head::new();
    /// let ring = Ring::new(&slots, &head)?;
    /// ring.publish(0, 0, b"first")?;
    /// ring.publish_lost(2)?; // two frames lost upstream
    /// ring.publish(0, 0, b"fourth")?;
    ///
    /// let mut payloads = Vec::new();
    /// let poll = ring.poll(&mut Cursor::from_start(), |f| payloads.push(f.payload.to_vec()));
    /// assert_eq!(payloads, [b"first".to_vec(), b"fourth".to_vec()]);
    /// assert_eq!((poll.loss.unavailable, poll.loss.overwritten), (2, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish_lost(&self, count: u32) -> Result<(), PublishError> {
        for _ in 0..count {
            self.publish_void()?;
        }
        Ok(())
    }

    /// Commits one loss marker (see [`publish_lost`](Ring::publish_lost)): `Ok` once a counter
    /// readers will count lost was claimed in the current generation.
    pub(crate) fn publish_void(&self) -> Result<(), PublishError> {
        let (counter, _base, slot) = match self.claim(&[]) {
            Ok(claimed) => claimed,
            // The counter was claimed and abandoned: readers count it (unavailable or
            // overwritten), once, in its place.
            Err(PublishError::SlotBusy { .. } | PublishError::Lapped { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        slot.meta.store(VOID_META, Ordering::Relaxed);
        slot.version.store(0, Ordering::Relaxed);
        // A reader that sees the commit's even seq sees the void meta and counts the counter
        // unavailable.
        self.commit_claimed(slot, counter);
        Ok(())
    }
}
